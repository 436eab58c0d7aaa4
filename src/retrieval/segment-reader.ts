import type { RecordingProvider } from '../providers/types.js'
import type { SegmentRef } from '../recording.js'
import type { SegmentReader } from './leg-audio.js'

/*
 * A segment read through its provider the three ways finding its layout needs: the head (statSegment),
 * small ranged windows (the MP3 tail, a first frame after a large ID3v2 tag) and one streamed pass
 * (counting MP3 frames). All with the request's signal, so a client that goes away stops them.
 */

export function providerSegmentReader(provider: RecordingProvider, segment: SegmentRef, signal: AbortSignal): SegmentReader {
  return {
    readHead: (bytes) => provider.statSegment(segment, bytes, signal),

    async readBytes(start, end) {
      const wanted = end - start
      if (wanted <= 0) return Buffer.alloc(0)
      const stream = await provider.openSegment(segment, { start, end: end - 1 }, signal)
      const chunks: Buffer[] = []
      let received = 0
      // Leaving the loop destroys the stream: a provider that sends more than asked is not read further.
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer)
        received += (chunk as Buffer).length
        if (received >= wanted) break
      }
      return Buffer.concat(chunks).subarray(0, wanted)
    },

    async *streamBytes(start, end) {
      if (end <= start) return
      const stream = await provider.openSegment(segment, { start, end: end - 1 }, signal)
      // A consumer that stops early returns from this generator, which destroys the stream (and its request).
      for await (const chunk of stream) yield chunk as Buffer
    }
  }
}
