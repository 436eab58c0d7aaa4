import { createReadStream } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { PassThrough, pipeline, Readable } from 'node:stream'
import t from 'tap'
import { FormatMismatchError, UpstreamError } from '../../../src/errors.js'
import type { ByteRange } from '../../../src/recording.js'
import { describeFormat, parseWavLayout, type WavLayout } from '../../../src/audio/wav/riff.js'
import { planVirtualWav, streamVirtualWav, type OpenSegment, type VirtualWav } from '../../../src/audio/wav/virtual-wav.js'
import { makeTone, soxConcat, soxInfo, soxSamples, tempDir, type ToneOptions } from '../../helpers/sox.js'
import { dataOf, findChunk, fmtBodyOf, replaceFmt, toExtensible } from '../../helpers/wav-craft.js'

const dir = await tempDir(t)
let counter = 0

interface Segment {
  path: string
  bytes: Buffer
  layout: WavLayout
}

async function loadSegment(path: string): Promise<Segment> {
  const bytes = await readFile(path)
  return { path, bytes, layout: parseWavLayout(bytes, bytes.length) }
}

async function toneSegment(opts: ToneOptions): Promise<Segment> {
  return loadSegment(await makeTone(join(dir, `seg-${counter++}.wav`), opts))
}

async function writeSegment(bytes: Buffer): Promise<Segment> {
  const path = join(dir, `crafted-${counter++}.wav`)
  await writeFile(path, bytes)
  return loadSegment(path)
}

interface OpenCall {
  index: number
  range: ByteRange
}

/** Opens segments from disk with fs ranges, recording each call. */
function fileOpener(segments: readonly Segment[], calls: OpenCall[] = []): OpenSegment {
  return async (index, range, signal) => {
    calls.push({ index, range })
    const segment = segments[index]
    if (!segment) throw new Error(`no segment ${index}`)
    return createReadStream(segment.path, { start: range.start, end: range.end, signal })
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Sample arrays can be long: report the first differing index rather than a giant diff. */
function firstDifference(a: Int16Array, b: Int16Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/** Lets queued I/O and stream callbacks run; used to wait for a state, never to measure time. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** Deterministic PRNG (mulberry32) so a failing range can be reproduced. */
function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

const FREQS = [300, 520, 740]
// 9961 samples in all: odd, so 8-bit formats end with a pad byte.
const SAMPLES = [4001, 2960, 3000]

const variants: { name: string; opts: ToneOptions; extensible?: boolean }[] = [
  { name: 'PCM 16-bit 8 kHz mono', opts: { encoding: 'pcm16' } },
  { name: 'µ-law', opts: { encoding: 'ulaw' } },
  { name: 'A-law', opts: { encoding: 'alaw' } },
  { name: 'PCM 16-bit stereo', opts: { encoding: 'pcm16', channels: 2 } },
  { name: 'PCM 16-bit 3 channels (extensible)', opts: { encoding: 'pcm16', channels: 3 }, extensible: true }
]

for (const variant of variants) {
  t.test(`${variant.name}: three segments, same samples as sox concatenation, every range consistent`, async (t) => {
    const segments = await Promise.all(SAMPLES.map((samples, i) => toneSegment({ ...variant.opts, samples, freq: FREQS[i] })))
    const v = planVirtualWav(segments.map((s) => s.layout))
    const full = await collect(streamVirtualWav(v, { start: 0, end: v.size - 1 }, fileOpener(segments)))

    t.equal(full.length, v.size, 'size announced = bytes streamed')
    t.equal(full.readUInt32LE(4), full.length - 8, 'RIFF size exact')
    t.same(full.subarray(0, v.header.length), v.header, 'starts with the header')
    const data = Buffer.concat(segments.map((s) => dataOf(s.bytes)))
    t.ok(full.subarray(v.header.length, v.header.length + v.dataLength).equals(data), 'data = segment payloads in order')
    t.equal(v.size - v.header.length - v.dataLength, v.dataLength & 1, 'pad byte only when data is odd')
    if (v.dataLength & 1) t.equal(full[full.length - 1], 0, 'pad byte is zero')

    const out = join(dir, `out-${counter++}.wav`)
    const ref = join(dir, `ref-${counter++}.wav`)
    await writeFile(out, full)
    await soxConcat(segments.map((s) => s.path), ref)
    const info = await soxInfo(out)
    t.equal(info.samples, 9961, 'sox reads the right sample count from our header')
    t.equal(info.channels, variant.opts.channels ?? 1)
    t.equal(info.sampleRate, 8000)
    const ours = await soxSamples(out)
    const theirs = await soxSamples(ref)
    t.equal(ours.length, 9961 * (variant.opts.channels ?? 1))
    t.equal(firstDifference(ours, theirs), -1, 'sample by sample equal to `sox seg1 seg2 seg3 ref.wav`')
    if (variant.extensible) t.equal(full.readUInt16LE(20), 0xfffe, 'extensible fmt kept verbatim')

    // Ranges: edges first, then random ones; each must equal the same slice of the full file and
    // fetch from the segments exactly the bytes it covers.
    const h = v.header.length
    const ranges: ByteRange[] = [
      { start: 0, end: 0 },
      { start: v.size - 1, end: v.size - 1 },
      { start: 0, end: v.size - 1 },
      { start: 3, end: 20 },
      { start: h - 1, end: h },
      { start: h, end: h },
      { start: h - 5, end: v.size - 3 },
      { start: v.size - 2, end: v.size - 1 }
    ]
    for (const seg of v.segments) {
      ranges.push({ start: seg.virtualOffset - 1, end: seg.virtualOffset })
      ranges.push({ start: seg.virtualOffset - 1, end: seg.virtualOffset + 1 })
      ranges.push({ start: seg.virtualOffset, end: seg.virtualOffset + seg.length - 1 })
      ranges.push({ start: seg.virtualOffset + 1, end: seg.virtualOffset + seg.length - 2 })
      ranges.push({ start: seg.virtualOffset + seg.length - 1, end: Math.min(v.size - 1, seg.virtualOffset + seg.length) })
    }
    const random = prng(FREQS.length * 7919 + variant.name.length)
    for (let i = 0; i < 120; i++) {
      const start = Math.floor(random() * v.size)
      const end = start + Math.floor(random() * (v.size - start))
      ranges.push({ start, end })
    }
    const wrong: string[] = []
    const overfetch: string[] = []
    for (const range of ranges) {
      const calls: OpenCall[] = []
      const slice = await collect(streamVirtualWav(v, range, fileOpener(segments, calls)))
      if (!slice.equals(full.subarray(range.start, range.end + 1))) wrong.push(`${range.start}-${range.end}`)
      const fetched = calls.reduce((sum, c) => sum + c.range.end - c.range.start + 1, 0)
      const dataEnd = h + v.dataLength - 1
      const needed = Math.max(0, Math.min(range.end, dataEnd) - Math.max(range.start, h) + 1)
      if (fetched !== needed) overfetch.push(`${range.start}-${range.end}: fetched ${fetched}, needed ${needed}`)
    }
    t.same(wrong, [], `${ranges.length} ranges equal the same slice of the full output`)
    t.same(overfetch, [], 'each range fetches exactly the segment bytes it covers')
  })
}

t.test('GSM 6.10: fact is the sum of the segments, blocks copied whole', async (t) => {
  // 12 + 8 + 11 blocks of 65 bytes: odd data, sox pads each segment's last block.
  const segments = await Promise.all([3600, 2400, 3280].map((samples, i) => toneSegment({ encoding: 'gsm', samples, freq: FREQS[i] })))
  t.same(segments.map((s) => s.layout.factSamples), [3600, 2400, 3280])
  const v = planVirtualWav(segments.map((s) => s.layout))
  const full = await collect(streamVirtualWav(v, { start: 0, end: v.size - 1 }, fileOpener(segments)))
  const layout = parseWavLayout(full, full.length)
  t.equal(layout.factSamples, 3600 + 2400 + 3280, 'fact = sum of segment facts')
  t.equal(layout.dataLength, 31 * 65)
  t.equal(full.length, v.size)
  t.equal(full[full.length - 1], 0, 'pad byte after odd GSM data')
  // sox counts the pad byte of an odd GSM data chunk in its size (716 for 11 blocks); trimming to whole
  // blocks keeps that stray byte out of the middle of the concatenation.
  t.equal(findChunk(segments[2]!.bytes, 'data').size, 11 * 65 + 1, 'sox quirk present in the input')
  t.equal(segments[2]!.layout.dataLength, 11 * 65, 'and trimmed away')
  const payloads = segments.map((s) => s.bytes.subarray(s.layout.dataOffset, s.layout.dataOffset + s.layout.dataLength))
  t.ok(full.subarray(layout.dataOffset, layout.dataOffset + layout.dataLength).equals(Buffer.concat(payloads)), 'whole blocks, in order')
  const out = join(dir, `gsm-out-${counter++}.wav`)
  await writeFile(out, full)
  const info = await soxInfo(out)
  t.equal(info.encoding, 'GSM')
  t.equal(info.samples, 31 * 320, 'sox decodes every block')
  // GSM decoding carries state across blocks, so only the first segment can match a separate decode exactly.
  const ours = await soxSamples(out)
  const first = await soxSamples(segments[0]!.path)
  t.equal(firstDifference(ours.subarray(0, first.length), first), -1, 'first segment decodes identically')

  // A segment without a fact chunk counts its blocks instead.
  const noFact = { ...segments[1]!.layout, factSamples: null }
  const v2 = planVirtualWav([segments[0]!.layout, noFact])
  t.equal(parseWavLayout(v2.header, v2.size).factSamples, 3600 + 8 * 320)
})

t.test('format mismatches are refused, naming both formats', async (t) => {
  const base = await toneSegment({ seconds: 0.1 })
  const others: [string, ToneOptions | Buffer][] = [
    ['sample rate', { seconds: 0.1, rate: 16000 }],
    ['channels', { seconds: 0.1, channels: 2 }],
    ['bits', { seconds: 0.1, encoding: 'pcm8' }],
    ['tag', { seconds: 0.1, encoding: 'ulaw' }],
    ['plain vs extensible', toExtensible(base.bytes)]
  ]
  for (const [name, other] of others) {
    const seg = Buffer.isBuffer(other) ? await writeSegment(other) : await toneSegment(other)
    const expected = `${describeFormat(base.layout.format)} vs ${describeFormat(seg.layout.format)}`
    t.not(describeFormat(base.layout.format), describeFormat(seg.layout.format), `${name}: descriptions differ`)
    t.throws(() => planVirtualWav([base.layout, base.layout, seg.layout]), FormatMismatchError, `${name}: FormatMismatchError`)
    t.throws(
      () => planVirtualWav([base.layout, base.layout, seg.layout]),
      { statusCode: 502, code: 'GW_ERR_FORMAT_MISMATCH', message: new RegExp(expected.replace(/[()]/g, '\\$&')) },
      `${name}: 502 naming both formats (${expected})`
    )
  }
  // µ-law vs A-law at the same rate: only the tag differs.
  const ulaw = await toneSegment({ seconds: 0.1, encoding: 'ulaw' })
  const alaw = await toneSegment({ seconds: 0.1, encoding: 'alaw' })
  t.throws(() => planVirtualWav([ulaw.layout, alaw.layout]), { message: /µ-law 8-bit 8000 Hz mono vs A-law 8-bit 8000 Hz mono/ })
  // GSM files that differ only in their fmt extension get the detail in the message.
  const gsm = await toneSegment({ seconds: 0.1, encoding: 'gsm' })
  const body = fmtBodyOf(gsm.bytes)
  body.writeUInt16LE(160, 18)
  const gsmOther = await writeSegment(replaceFmt(gsm.bytes, body))
  t.throws(() => planVirtualWav([gsm.layout, gsmOther.layout]), { message: /GSM 6\.10 8000 Hz mono \(block 65 bytes, fmt [0-9a-f]+\) vs GSM 6\.10 8000 Hz mono \(block 65 bytes, fmt [0-9a-f]+a000\)$/ })
  t.throws(() => planVirtualWav([]), TypeError, 'no segments at all is a programming error')
})

t.test('a plain PCM fmt and one with cbSize=0 concatenate', async (t) => {
  const a = await toneSegment({ samples: 100, freq: 300 })
  const b = await writeSegment(replaceFmt((await toneSegment({ samples: 101, freq: 500 })).bytes, Buffer.concat([fmtBodyOf(a.bytes), Buffer.alloc(2)])))
  const v = planVirtualWav([a.layout, b.layout])
  t.equal(v.dataLength, 402)
  t.equal(v.header.length, 44, "the first segment's 16-byte fmt is used")
})

t.test('empty segments are not opened', async (t) => {
  const a = await toneSegment({ samples: 500, freq: 300 })
  const b = await toneSegment({ samples: 500, freq: 500 })
  const empty = await writeSegment(a.bytes.subarray(0, a.layout.dataOffset))
  t.equal(empty.layout.dataLength, 0)
  const segments = [a, empty, b]
  const calls: OpenCall[] = []
  const v = planVirtualWav(segments.map((s) => s.layout))
  const full = await collect(streamVirtualWav(v, { start: 0, end: v.size - 1 }, fileOpener(segments, calls)))
  t.same(calls.map((c) => c.index), [0, 2])
  t.ok(full.subarray(v.header.length).equals(Buffer.concat([dataOf(a.bytes), dataOf(b.bytes)])))
})

t.test('ranges outside the file are refused', async (t) => {
  const a = await toneSegment({ samples: 100 })
  const v = planVirtualWav([a.layout])
  const open = fileOpener([a])
  for (const range of [{ start: 0, end: v.size }, { start: 5, end: 4 }, { start: -1, end: 3 }, { start: 0.5, end: 3 }]) {
    t.throws(() => streamVirtualWav(v, range, open), RangeError, `${range.start}-${range.end}`)
  }
})

/** A two-segment plan over sox files, for the failure tests. */
/** An opener handing out PassThrough upstreams for the test to write into, and the signals it was given. */
function passThroughOpener(): { open: OpenSegment; ups: PassThrough[]; signals: AbortSignal[] } {
  const ups: PassThrough[] = []
  const signals: AbortSignal[] = []
  const open: OpenSegment = async (_index, _range, signal) => {
    signals.push(signal)
    const up = new PassThrough()
    ups.push(up)
    return up
  }
  return { open, ups, signals }
}

async function twoSegments(): Promise<{ segments: Segment[]; v: VirtualWav; full: Buffer }> {
  const segments = [await toneSegment({ samples: 4000, freq: 300 }), await toneSegment({ samples: 4000, freq: 500 })]
  const v = planVirtualWav(segments.map((s) => s.layout))
  const full = await collect(streamVirtualWav(v, { start: 0, end: v.size - 1 }, fileOpener(segments)))
  return { segments, v, full }
}

t.test('a truncated segment makes the stream fail, not end cleanly', async (t) => {
  const { segments, v } = await twoSegments()
  const short: OpenSegment = async (index, range, signal) =>
    createReadStream(segments[index]!.path, { start: range.start, end: index === 1 ? range.end - 100 : range.end, signal })
  const received: Buffer[] = []
  const stream = streamVirtualWav(v, { start: 0, end: v.size - 1 }, short)
  stream.on('data', (chunk: Buffer) => received.push(chunk))
  const error = await new Promise<Error>((resolve, reject) => {
    stream.on('error', resolve)
    stream.on('end', () => reject(new Error('ended cleanly')))
  })
  t.type(error, UpstreamError)
  t.match(error.message, /segment 2: ended after 7900 of 8000 bytes/)
  t.ok(Buffer.concat(received).length < v.size, 'fewer bytes than announced')

  // Through HTTP with Content-Length, the client sees a cut response rather than a complete short file.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': v.size })
    pipeline(streamVirtualWav(v, { start: 0, end: v.size - 1 }, short), res, () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const { port } = server.address() as AddressInfo
  const response = await fetch(`http://127.0.0.1:${port}/`)
  t.equal(response.status, 200)
  await t.rejects(response.arrayBuffer(), 'the client gets an error, not a clean end')
})

t.test('upstream errors and failed opens fail the stream', async (t) => {
  const { v } = await twoSegments()
  const range = { start: 0, end: v.size - 1 }
  const midwayError: OpenSegment = async (_index, r) => {
    const up = new Readable({ read() {} })
    up.push(Buffer.alloc(Math.min(100, r.end - r.start)))
    setImmediate(() => up.destroy(new Error('connection reset by vendor')))
    return up
  }
  await t.rejects(collect(streamVirtualWav(v, range, midwayError)), { message: 'connection reset by vendor' })
  const rejecting: OpenSegment = async (index) => {
    if (index === 1) throw new UpstreamError('eleveo', 'HTTP 500')
    return Readable.from([Buffer.alloc(v.segments[0]!.length)])
  }
  await t.rejects(collect(streamVirtualWav(v, range, rejecting)), { message: 'Upstream eleveo: HTTP 500' })
  const throwing: OpenSegment = () => {
    throw new Error('synchronous failure')
  }
  await t.rejects(collect(streamVirtualWav(v, range, throwing)), { message: 'synchronous failure' })
  // A stream that closes without 'end' (destroyed without error) is as short as a truncated one.
  const closing: OpenSegment = async () => {
    const up = new PassThrough()
    up.write(Buffer.alloc(10))
    setImmediate(() => up.destroy())
    return up
  }
  await t.rejects(collect(streamVirtualWav(v, range, closing)), { message: /segment 1: closed after 10 of 8000 bytes/ })
})

t.test('surplus upstream bytes are ignored and the upstream stopped', async (t) => {
  const { segments, v, full } = await twoSegments()
  const ups: Readable[] = []
  const generous: OpenSegment = async (index, range, signal) => {
    const up = createReadStream(segments[index]!.path, { start: range.start, signal, highWaterMark: 1024 })
    ups.push(up)
    return up
  }
  for (const range of [{ start: 0, end: v.size - 1 }, { start: 100, end: 5000 }, { start: 50, end: v.size - 2000 }]) {
    ups.length = 0
    const slice = await collect(streamVirtualWav(v, range, generous))
    t.ok(slice.equals(full.subarray(range.start, range.end + 1)), `${range.start}-${range.end}`)
    await until(() => ups.every((u) => u.destroyed || u.readableEnded), 'upstreams to stop')
    t.ok(ups.every((u) => u.destroyed || u.readableEnded), 'no upstream left running')
  }
})

t.test('destroying the output aborts the open signal and destroys the upstream', async (t) => {
  const { v } = await twoSegments()
  const { open, ups, signals } = passThroughOpener()
  const stream = streamVirtualWav(v, { start: 0, end: v.size - 1 }, open)
  let received = 0
  stream.on('data', (chunk: Buffer) => (received += chunk.length))
  await until(() => ups.length === 1, 'segment 1 to be opened')
  ups[0]!.write(Buffer.alloc(1000))
  await until(() => received === v.header.length + 1000, 'bytes to flow')
  stream.destroy()
  t.ok(signals[0]!.aborted, 'signal given to open is aborted')
  t.ok(ups[0]!.destroyed, 'open upstream destroyed')
  t.equal(ups.length, 1, 'nothing else opened')

  // Destroyed while open() is still pending: the stream that arrives late is destroyed at once.
  let resolveOpen: (up: PassThrough) => void = () => {}
  let pendingSignal: AbortSignal | undefined
  const slow: OpenSegment = (_index, _range, signal) => {
    pendingSignal = signal
    return new Promise<PassThrough>((resolve) => (resolveOpen = resolve))
  }
  const stream2 = streamVirtualWav(v, { start: 0, end: v.size - 1 }, slow)
  stream2.resume()
  await until(() => pendingSignal !== undefined, 'open to be called')
  stream2.destroy()
  t.ok(pendingSignal!.aborted, 'pending open sees the abort')
  const late = new PassThrough()
  resolveOpen(late)
  await until(() => late.destroyed, 'late upstream to be destroyed')
  t.ok(late.destroyed)
})

t.test('the outer signal aborts everything', async (t) => {
  const { v } = await twoSegments()
  const { open, ups, signals } = passThroughOpener()
  const outer = new AbortController()
  const stream = streamVirtualWav(v, { start: 0, end: v.size - 1 }, open, outer.signal)
  const failed = new Promise<Error>((resolve) => stream.on('error', resolve))
  stream.resume()
  await until(() => ups.length === 1, 'segment 1 to be opened')
  outer.abort(new Error('client went away'))
  t.equal((await failed).message, 'client went away')
  t.ok(signals[0]!.aborted)
  t.ok(ups[0]!.destroyed)

  const calls: OpenCall[] = []
  const already = streamVirtualWav(v, { start: 0, end: v.size - 1 }, fileOpener([], calls), AbortSignal.abort())
  await t.rejects(collect(already), { name: 'AbortError' })
  t.same(calls, [], 'nothing opened when already aborted')
})

t.test('segments are opened lazily, one after another', async (t) => {
  const { v } = await twoSegments()
  const calls: number[] = []
  const ups: PassThrough[] = []
  const open: OpenSegment = async (index) => {
    calls.push(index)
    const up = new PassThrough()
    ups.push(up)
    return up
  }
  const stream = streamVirtualWav(v, { start: 0, end: v.size - 1 }, open)
  const chunks: Buffer[] = []
  let received = 0
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    received += chunk.length
  })
  const ended = new Promise((resolve) => stream.on('end', resolve))
  await until(() => calls.length === 1, 'segment 1 to be opened')
  const first = v.segments[0]!.length
  ups[0]!.write(Buffer.alloc(first / 2, 1))
  await until(() => received === v.header.length + first / 2, 'half of segment 1 to arrive')
  t.same(calls, [0], 'segment 2 not opened while segment 1 is still being read')
  ups[0]!.write(Buffer.alloc(first / 2, 1))
  await until(() => calls.length === 2, 'segment 2 to be opened')
  t.equal(received, v.header.length + first, 'segment 2 opened only once segment 1 delivered all its bytes')
  ups[0]!.end()
  ups[1]!.end(Buffer.alloc(v.segments[1]!.length, 2))
  await ended
  t.equal(received, v.size)
})

t.test('the first segment is asked for at once, its bytes flow only when read, and a stream never read discards it', async (t) => {
  const { v } = await twoSegments()
  const { open, ups, signals } = passThroughOpener()
  const stream = streamVirtualWav(v, { start: 0, end: v.size - 1 }, open)
  t.equal(ups.length, 1, 'the request for segment 1 left when the stream was made')
  ups[0]!.write(Buffer.alloc(100, 1))
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(stream.readableLength, 0, 'nothing (not even the header) is pushed before the first read')
  t.equal(ups[0]!.readableLength, 100, 'the upstream is not read before the stream is')
  stream.destroy()
  await until(() => ups[0]!.destroyed, 'the early upstream to be destroyed')
  t.ok(signals[0]!.aborted, 'its request is aborted with the stream')
  t.equal(ups.length, 1, 'segment 2 was never asked for')
})

t.test('backpressure: a stalled reader stops the upstream', async (t) => {
  const pcm = await toneSegment({ samples: 10 })
  const dataLength = 16 * 1024 * 1024
  const layout: WavLayout = { ...pcm.layout, dataLength }
  const v = planVirtualWav([layout])
  let generated = 0
  const open: OpenSegment = async (_index, range) => {
    const total = range.end - range.start + 1
    return new Readable({
      read() {
        const n = Math.min(16 * 1024, total - generated)
        generated += n
        this.push(n > 0 ? Buffer.alloc(n) : null)
      }
    })
  }
  const stream = streamVirtualWav(v, { start: 0, end: v.size - 1 }, open)
  const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve))
  stream.pause()
  t.ok(first.length > 0)
  // Give the upstream every chance to run ahead; with backpressure it stays within a few buffers.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  t.ok(generated < 512 * 1024, `upstream paused after ${generated} of ${dataLength} bytes`)
  // What the stream holds in its buffer has not been taken yet: bytesOut counts only what the reader got.
  t.ok(stream.readableLength > 0, `${stream.readableLength} bytes wait in the stream`)
  t.equal(stream.bytesOut, first.length, 'bytesOut is what the reader has taken')
  stream.resume()
  const rest = await collect(stream)
  t.equal(first.length + rest.length, v.size)
  t.equal(stream.bytesOut, v.size)
  t.equal(generated, dataLength)
})
