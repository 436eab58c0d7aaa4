import { Readable } from 'node:stream'
import t from 'tap'
import { buildWavHeader, type WavFormat } from '../../src/audio/wav/riff.js'
import type { RecordingProvider } from '../../src/providers/types.js'
import type { SegmentInfo, SegmentRef, VendorLeg } from '../../src/recording.js'
import { RecordingResolver } from '../../src/retrieval/recording-resolver.js'

/*
 * The resolver's reuse of a leg's plan: a player seeking through a leg sends one Range request after
 * another, and with warm caches each gets the very same plan and ETag; once a layout is read again
 * (its cache entry expired), the plan follows what was read.
 */

const PCM: WavFormat = {
  formatTag: 1,
  channels: 1,
  sampleRate: 8000,
  byteRate: 16000,
  blockAlign: 2,
  bitsPerSample: 16,
  fmtBody: Buffer.from([1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0]),
  subFormat: null
}

/** Two segments whose data lengths the test changes; counts the header reads. */
function fakeProvider(dataLengths: number[]): RecordingProvider & { heads: number } {
  const leg: VendorLeg = { dialogId: 'd1', agentExtension: '1001', ani: '555', start: 1000, end: null, segments: [{ id: 's0' }, { id: 's1' }] }
  const provider = {
    name: 'eleveo' as const,
    matchPolicy: { requireSameIdentity: false, toleranceMs: null },
    heads: 0,
    findLegs: async (): Promise<VendorLeg[]> => [leg],
    async statSegment(segment: SegmentRef, headBytes: number): Promise<SegmentInfo> {
      provider.heads++
      const dataLength = dataLengths[Number(segment.id.slice(1))] as number
      const file = Buffer.concat([buildWavHeader(PCM, dataLength, null), Buffer.alloc(dataLength)])
      return { size: file.length, head: file.subarray(0, headBytes) }
    },
    openSegment: async (): Promise<Readable> => Readable.from([]),
    describeSegment: (segment: SegmentRef): string => segment.id,
    ping: async (): Promise<void> => undefined,
    close: async (): Promise<void> => undefined
  }
  return provider
}

const key = { dialogId: 'd1', agentExtension: '1001', ani: '555', startTime: 1000 }

t.test('with every layout cached, a leg resolves to the same plan and ETag without reading anything', async (t) => {
  const provider = fakeProvider([4000, 6000])
  const resolver = new RecordingResolver(provider, { ttlMs: 60_000 })
  const signal = new AbortController().signal
  const first = await resolver.resolve(key, signal)
  t.equal(provider.heads, 2, 'each segment header read once')
  const again = await resolver.resolve(key, signal)
  t.equal(again, first, 'the very same resolved recording')
  t.equal(provider.heads, 2, 'no header read again')
  t.equal(first.file.size, first.file.prefix.length + 10_000)
})

t.test('a layout read again after its cache entry expired gives a new plan and ETag', async (t) => {
  const lengths = [4000, 6000]
  const provider = fakeProvider(lengths)
  // The fake hands out one leg object throughout, so the plan kept for it outlives the expiry: only the
  // layouts, read again as new objects, can tell the resolver to plan anew.
  const resolver = new RecordingResolver(provider, { ttlMs: 30 })
  const signal = new AbortController().signal
  const first = await resolver.resolve(key, signal)
  lengths[1] = 8000
  await new Promise((resolve) => setTimeout(resolve, 80))
  const later = await resolver.resolve(key, signal)
  t.equal(provider.heads, 4, 'both headers read again')
  t.not(later.etag, first.etag, 'the ETag follows the new layout')
  t.equal(later.file.size, later.file.prefix.length + 12_000, 'and so does the size')
})
