import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { FormatMismatchError } from '../../../src/errors.js'
import type { Mp3Layout } from '../../../src/audio/mp3/layout.js'
import { planMp3, type Mp3Plan } from '../../../src/audio/mp3/merge.js'
import { probeMp3Layout } from '../../../src/audio/mp3/probe.js'
import { piecesFor } from '../../../src/audio/virtual-file.js'
import { makeTone, tempDir } from '../../helpers/sox.js'
import { apeTag, decodeAgainstParts, ffmpegDecode, ffprobeFormat, ffprobePackets, makeMp3, type Mp3FixtureOptions } from '../../helpers/mp3-tools.js'

const run = promisify(execFile)
const dir = await tempDir(t, 'cxgw-mp3-merge-')
let counter = 0

interface Segment {
  path: string
  bytes: Buffer
  layout: Mp3Layout
}

/** The layout as the gateway reads it: a 4 KiB head, ranged reads, a chunked counting pass. */
async function layoutOf(bytes: Buffer): Promise<Mp3Layout> {
  return probeMp3Layout({
    size: bytes.length,
    head: bytes.subarray(0, 4096),
    readBytes: async (start, end) => Buffer.from(bytes.subarray(start, end)),
    async *streamBytes(start, end) {
      for (let pos = start; pos < end; pos += 1000) yield bytes.subarray(pos, Math.min(end, pos + 1000))
    }
  })
}

/** A lame file; `apeTag` goes where taggers put it: before an ID3v1 tag, else at the end. */
async function segment(opts: Mp3FixtureOptions, extra: { apeTag?: Buffer } = {}): Promise<Segment> {
  const name = `seg-${counter++}`
  const made = await makeMp3(dir, name, opts)
  let { path, bytes } = made
  if (extra.apeTag) {
    const id3v1At = bytes.length - 128
    const hasId3v1 = bytes.toString('latin1', id3v1At, id3v1At + 3) === 'TAG'
    bytes = hasId3v1 ? Buffer.concat([bytes.subarray(0, id3v1At), extra.apeTag, bytes.subarray(id3v1At)]) : Buffer.concat([bytes, extra.apeTag])
    path = join(dir, `${name}-tagged.mp3`)
    await writeFile(path, bytes)
  }
  return { path, bytes, layout: await layoutOf(bytes) }
}

/** The virtual file's bytes [start, end] as the piece list says to assemble them. */
function assemble(plan: Mp3Plan, segments: readonly Segment[], start: number, end: number): Buffer {
  return Buffer.concat(
    piecesFor(plan, start, end).map((p) => (p.kind === 'bytes' ? p.bytes : (segments[p.index] as Segment).bytes.subarray(p.range.start, p.range.end + 1)))
  )
}

/** Deterministic PRNG (mulberry32) so a failing range can be reproduced. */
function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

interface Leg {
  name: string
  segments: Segment[]
  /** Info when every frame of every segment has one bitrate, Xing otherwise. */
  expectCbr: boolean
}

async function checkLeg(t: Test, leg: Leg): Promise<void> {
  const { segments } = leg
  const plan = planMp3(segments.map((s) => s.layout))
  const merged = assemble(plan, segments, 0, plan.size - 1)
  t.equal(merged.length, plan.size, 'the plan says the exact size')
  const mergedPath = join(dir, `${leg.name}-merged.mp3`)
  await writeFile(mergedPath, merged)

  // Frames: ffprobe's list of the merged file is the segments' lists, in order, byte for byte.
  const segmentPackets = await Promise.all(segments.map((s) => ffprobePackets(s.path)))
  const mergedPackets = await ffprobePackets(mergedPath)
  const expectedFrames = segmentPackets.flat()
  t.equal(mergedPackets.length, expectedFrames.length, 'as many frames as the segments have together')
  t.equal(plan.frameCount, expectedFrames.length, 'the plan counts every frame ffprobe finds')
  t.ok(
    mergedPackets.every((p, i) => p.data.equals((expectedFrames[i] as { data: Buffer }).data)),
    'every frame is byte-identical to the segment frame ffprobe lists at that place'
  )
  t.equal(mergedPackets[0]?.pos, plan.prefix.length, 'audio starts right after the Info frame')
  t.equal(Buffer.concat(mergedPackets.map((p) => p.data)).length + plan.prefix.length, plan.size, 'nothing but the Info frame and frames')
  segments.forEach((s, i) => {
    const packets = segmentPackets[i] ?? []
    const first = packets[0]
    const last = packets[packets.length - 1]
    if (!first || !last) return
    t.equal(s.layout.audioOffset, first.pos, `segment ${i + 1}: audio starts where ffprobe's first frame does`)
    t.equal(s.layout.audioOffset + s.layout.audioLength, last.pos + last.size, `segment ${i + 1}: audio ends where ffprobe's last frame does`)
  })

  // The Info frame: its kind, and the duration ffprobe derives from its frame count.
  const kind = plan.prefix.toString('latin1').includes('Info') ? 'Info' : plan.prefix.toString('latin1').includes('Xing') ? 'Xing' : 'none'
  t.equal(kind, leg.expectCbr ? 'Info' : 'Xing', 'Info for one constant bitrate, Xing otherwise')
  const format = await ffprobeFormat(mergedPath)
  const samplesPerFrame = plan.format.version === '1' ? 1152 : 576
  t.equal(format.sampleRate, plan.format.sampleRate)
  t.equal(format.channels, plan.format.channels)
  t.equal(format.durationSeconds.toFixed(3), ((expectedFrames.length * samplesPerFrame) / plan.format.sampleRate).toFixed(3), 'ffprobe reads the exact duration')

  // Samples: the merged stream decodes without a complaint, to the segments' samples frame for frame.
  for (const r of await decodeAgainstParts(mergedPath, segmentPackets, join(dir, leg.name), plan.format.channels)) {
    t.equal(r.stderr, '', `${r.decoder} decodes the merged stream without a message`)
    t.equal(r.samples, r.partSamples, `${r.decoder}: as many samples as the segments decoded one by one`)
    t.equal(r.samples, expectedFrames.length * samplesPerFrame * plan.format.channels, `${r.decoder}: one frame's samples per frame, the Info frame giving none`)
    t.equal(r.outside, 0, `${r.decoder}: same samples outside the joint windows (first difference at ${r.firstOutside})`)
  }

  // Ranges: any slice assembled from its pieces is the same slice of the whole.
  const random = prng(leg.name.length * 7919)
  const edges = [0, plan.prefix.length - 1, plan.prefix.length, ...plan.parts.flatMap((p) => [p.virtualOffset - 1, p.virtualOffset, p.virtualOffset + p.length - 1]), plan.size - 1]
  const ranges: [number, number][] = edges.filter((e) => e >= 0 && e < plan.size).map((e) => [e, Math.min(plan.size - 1, e + 1 + Math.floor(random() * 500))])
  for (let i = 0; i < 200; i++) {
    const a = Math.floor(random() * plan.size)
    const b = Math.floor(random() * plan.size)
    ranges.push([Math.min(a, b), Math.max(a, b)])
  }
  const wrong = ranges.filter(([s, e]) => !assemble(plan, segments, s, e).equals(merged.subarray(s, e + 1)))
  t.same(wrong, [], `${ranges.length} ranges, each the same bytes as the slice of the whole`)
}

t.test('8 kHz mono MPEG-2.5 (as call recorders write it): CBR with and without Info, VBR, every kind of tag', async (t) => {
  const segments = [
    await segment({ seconds: 1.3, freq: 440, lame: ['-b', '24'] }),
    // At 16 kbit/s LAME's tag does not fit in a frame: it writes none.
    await segment({ seconds: 0.9, freq: 550, lame: ['-b', '16'] }),
    await segment({ seconds: 2.1, freq: 660, lame: ['-V', '5', '--add-id3v2', '--tt', 'agent 1001'] }, { apeTag: apeTag({ Title: 'hold 2' }, true) }),
    await segment({ seconds: 1.1, freq: 770, lame: ['-t', '-b', '32', '--id3v1-only', '--tt', 'part 4'] })
  ]
  t.same(
    segments.map((s) => [s.layout.format.version, s.layout.format.layer, s.layout.format.sampleRate, s.layout.format.channels]),
    Array(4).fill(['2.5', 3, 8000, 1])
  )
  t.same(segments.map((s) => s.layout.counted), [false, true, false, true], 'the Info/Xing counts are used where they exist; files without one are counted')
  await checkLeg(t, { name: 'mono8k', segments, expectCbr: false })
})

t.test('8 kHz mono at one constant bitrate: an Info frame at that bitrate', async (t) => {
  const segments = [
    await segment({ seconds: 1.0, freq: 440, lame: ['-b', '24'] }),
    await segment({ seconds: 0.6, freq: 880, lame: ['-t', '-b', '24'] }, { apeTag: apeTag({ Comment: 'no header' }, false) })
  ]
  await checkLeg(t, { name: 'cbr8k', segments, expectCbr: true })
  const plan = planMp3(segments.map((s) => s.layout))
  t.equal(plan.prefix.length, 216, 'a 24 kbit/s MPEG-2.5 frame (72 × 24000 / 8000 bytes), as LAME writes its own')

  const low = [await segment({ seconds: 0.7, freq: 440, lame: ['-b', '16'] }), await segment({ seconds: 0.5, freq: 660, lame: ['-b', '16'] })]
  await checkLeg(t, { name: 'cbr8k16', segments: low, expectCbr: true })
  t.equal(planMp3(low.map((s) => s.layout)).prefix.length, 144, 'at 16 kbit/s too: the frame holds the counts without a seek table')
})

t.test('16 kHz mono MPEG-2: CBR and VBR', async (t) => {
  const segments = [
    await segment({ seconds: 1.2, rate: 16000, freq: 300, lame: ['-b', '32', '--id3v1-only', '--tt', 'x'] }),
    await segment({ seconds: 0.8, rate: 16000, freq: 500, lame: ['-V', '6'] })
  ]
  t.equal(segments[0]?.layout.format.version, '2')
  await checkLeg(t, { name: 'mono16k', segments, expectCbr: false })
})

t.test('44.1 kHz stereo MPEG-1: padded CBR frames, joint stereo VBR, ID3v2', async (t) => {
  const segments = [
    await segment({ seconds: 1.0, rate: 44100, channels: 2, freq: 440, lame: ['-b', '128', '--add-id3v2', '--tt', 'stereo'] }),
    await segment({ seconds: 0.7, rate: 44100, channels: 2, freq: 660, lame: ['-V', '4'] }),
    await segment({ seconds: 0.5, rate: 44100, channels: 2, freq: 330, lame: ['-t', '-b', '128'] })
  ]
  t.equal(segments[0]?.layout.format.version, '1')
  await checkLeg(t, { name: 'stereo44k', segments, expectCbr: false })
})

t.test('segments that differ in sample rate or channels: an error naming both formats', async (t) => {
  const mono8k = await segment({ seconds: 0.3, lame: ['-b', '16'] })
  const mono16k = await segment({ seconds: 0.3, rate: 16000, lame: ['-b', '32'] })
  const stereo44k = await segment({ seconds: 0.3, rate: 44100, channels: 2, lame: ['-b', '128'] })
  const mono44k = await segment({ seconds: 0.3, rate: 44100, lame: ['-b', '128'] })
  t.throws(() => planMp3([mono8k.layout, mono8k.layout, mono16k.layout]), {
    message: 'Segments of this leg have different audio formats and cannot be concatenated: MP3 (MPEG-2.5 Layer III, 8000 Hz, mono) vs MP3 (MPEG-2 Layer III, 16000 Hz, mono)',
    statusCode: 502
  })
  try {
    planMp3([stereo44k.layout, mono44k.layout])
    t.fail('stereo and mono cannot share a stream')
  } catch (err) {
    t.ok(err instanceof FormatMismatchError)
    t.match((err as Error).message, /44100 Hz, stereo\) vs MP3 \(MPEG-1 Layer III, 44100 Hz, mono\)/)
  }
})

t.test('Layer II (ffmpeg mp2): frames follow each other without a tag frame, which is a Layer III thing', async (t) => {
  const segments: Segment[] = []
  for (const [freq, seconds] of [[440, 1.2], [660, 0.8]] as const) {
    const wav = join(dir, `l2-${freq}.wav`)
    const path = join(dir, `l2-${freq}.mp2`)
    await makeTone(wav, { seconds, freq, rate: 22050 })
    await run('ffmpeg', ['-v', 'error', '-y', '-i', wav, '-c:a', 'mp2', '-b:a', '64k', path])
    const bytes = await readFile(path)
    segments.push({ path, bytes, layout: await layoutOf(bytes) })
  }
  const plan = planMp3(segments.map((s) => s.layout))
  t.equal(plan.prefix.length, 0)
  const merged = assemble(plan, segments, 0, plan.size - 1)
  const mergedPath = join(dir, 'l2-merged.mp2')
  await writeFile(mergedPath, merged)
  const expected = (await Promise.all(segments.map((s) => ffprobePackets(s.path)))).flat()
  const packets = await ffprobePackets(mergedPath)
  t.equal(plan.frameCount, expected.length)
  t.ok(packets.length === expected.length && packets.every((p, i) => p.data.equals((expected[i] as { data: Buffer }).data)), 'the frames of both, byte for byte')
  t.equal((await ffmpegDecode(mergedPath)).stderr, '', 'ffmpeg decodes it without a message')
})
