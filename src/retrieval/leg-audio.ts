import { describeMp3Format } from '../audio/mp3/format.js'
import type { Mp3Layout } from '../audio/mp3/layout.js'
import { planMp3 } from '../audio/mp3/merge.js'
import { probeMp3Layout } from '../audio/mp3/probe.js'
import { sniffContainer } from '../audio/sniff.js'
import type { VirtualFile } from '../audio/virtual-file.js'
import { FIRST_HEAD_PROBE_BYTES, probeWavLayout, type ReadHead } from '../audio/wav/layout-probe.js'
import { describeFormat, type WavLayout } from '../audio/wav/riff.js'
import { planVirtualWav } from '../audio/wav/virtual-wav.js'
import { FormatMismatchError } from '../errors.js'

/*
 * A leg's format follows its stored files, not configuration: each segment's first bytes say WAV or
 * MP3, and the leg is served as one file of that format. Anything that is not recognisably MP3 goes
 * the WAV way, so files that are neither get the same error as before MP3 was known.
 */

export type SegmentLayout =
  | { readonly container: 'wav'; readonly layout: WavLayout }
  | { readonly container: 'mp3'; readonly layout: Mp3Layout }

/** How one segment is read while its layout is found. */
export interface SegmentReader {
  /** Size and first bytes (as many as asked, or the whole file). */
  readonly readHead: ReadHead
  /** File bytes [start, end), exactly: a ranged request. */
  readBytes(start: number, end: number): Promise<Buffer>
  /** File bytes [start, end) as they arrive; leaving the loop early must abort the request. */
  streamBytes(start: number, end: number): AsyncIterable<Uint8Array>
}

/** Throws WavParseError or Mp3ParseError for a file that cannot be served; reader errors pass through. */
export async function probeSegmentLayout(reader: SegmentReader): Promise<SegmentLayout> {
  // One first read tells the format and is also the WAV probe's first read.
  const first = await reader.readHead(FIRST_HEAD_PROBE_BYTES)
  if (sniffContainer(first.head) === 'mp3') {
    const layout = await probeMp3Layout({
      size: first.size,
      head: first.head,
      readBytes: (start, end) => reader.readBytes(start, end),
      streamBytes: (start, end) => reader.streamBytes(start, end)
    })
    return { container: 'mp3', layout }
  }
  const whole = first.head.length >= first.size
  const layout = await probeWavLayout((bytes) => (bytes <= first.head.length || whole ? Promise.resolve(first) : reader.readHead(bytes)))
  return { container: 'wav', layout }
}

export interface LegAudio {
  readonly file: VirtualFile
  readonly contentType: 'audio/wav' | 'audio/mpeg'
  /** For the download's file name. */
  readonly extension: 'wav' | 'mp3'
}

/** Throws FormatMismatchError naming both formats when the segments cannot make one file. */
export function planLegAudio(layouts: readonly SegmentLayout[]): LegAudio {
  const first = layouts[0]
  if (!first) throw new TypeError('planLegAudio needs at least one segment')
  const other = layouts.find((l) => l.container !== first.container)
  if (other !== undefined) throw new FormatMismatchError(describeLayout(first), describeLayout(other))
  if (first.container === 'mp3') {
    const mp3 = layouts.flatMap((l) => (l.container === 'mp3' ? [l.layout] : []))
    return { file: planMp3(mp3), contentType: 'audio/mpeg', extension: 'mp3' }
  }
  const wav = layouts.flatMap((l) => (l.container === 'wav' ? [l.layout] : []))
  return { file: planVirtualWav(wav), contentType: 'audio/wav', extension: 'wav' }
}

function describeLayout(l: SegmentLayout): string {
  return l.container === 'mp3' ? describeMp3Format(l.layout.format) : `WAV (${describeFormat(l.layout.format)})`
}

/** What of a segment's layout decides the bytes served: part of the ETag. WAV's is what it always was. */
export function layoutSignature(l: SegmentLayout): string {
  return l.container === 'wav' ? `${l.layout.dataOffset}:${l.layout.dataLength}` : `mp3:${l.layout.audioOffset}:${l.layout.audioLength}:${l.layout.frameCount}`
}
