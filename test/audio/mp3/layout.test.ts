import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Mp3ParseError, parseFrameHeader } from '../../../src/audio/mp3/frame-header.js'
import { Mp3FrameCounter } from '../../../src/audio/mp3/frame-counter.js'
import type { Mp3Layout } from '../../../src/audio/mp3/layout.js'
import { Mp3NeedBytes } from '../../../src/audio/mp3/need-bytes.js'
import { MAX_PROBE_WINDOW_BYTES, probeMp3Layout, TAIL_PROBE_BYTES } from '../../../src/audio/mp3/probe.js'
import { findTrailingTags, skipLeadingId3v2 } from '../../../src/audio/mp3/tags.js'
import { apeTag, ffprobePackets, id3v1Tag, id3v2Tag, makeMp3 } from '../../helpers/mp3-tools.js'
import { tempDir } from '../../helpers/sox.js'

const dir = await tempDir(t, 'cxgw-mp3-layout-')
let counter = 0

interface Reads {
  /** [start, end) of every ranged read. */
  ranges: [number, number][]
  /** Bytes the counting pass read. */
  streamed: number
}

/** A file in memory read the way the gateway reads segments: a head, ranged reads, a streaming pass. */
async function probe(bytes: Buffer, opts: { headBytes?: number; chunk?: number } = {}): Promise<{ layout: Mp3Layout; reads: Reads }> {
  const reads: Reads = { ranges: [], streamed: 0 }
  const chunk = opts.chunk ?? 4096
  const layout = await probeMp3Layout({
    size: bytes.length,
    head: bytes.subarray(0, opts.headBytes ?? 4096),
    readBytes: async (start, end) => {
      reads.ranges.push([start, end])
      return Buffer.from(bytes.subarray(start, end))
    },
    async *streamBytes(start, end) {
      for (let pos = start; pos < end; pos += chunk) {
        const piece = bytes.subarray(pos, Math.min(end, pos + chunk))
        reads.streamed += piece.length
        yield piece
      }
    }
  })
  return { layout, reads }
}

/** What ffprobe says about a file: where its first frame starts, where its last ends, how many there are. */
async function reference(bytes: Buffer): Promise<{ first: number; end: number; frames: number }> {
  const path = join(dir, `ref-${counter++}.mp3`)
  await writeFile(path, bytes)
  const packets = await ffprobePackets(path)
  const last = packets[packets.length - 1]
  if (!packets[0] || !last) throw new Error('ffprobe found no frame')
  return { first: packets[0].pos, end: last.pos + last.size, frames: packets.length }
}

async function checkWithFfprobe(t: Test, bytes: Buffer, layout: Mp3Layout): Promise<void> {
  const ref = await reference(bytes)
  t.equal(layout.audioOffset, ref.first, 'audio starts at ffprobe’s first frame')
  t.equal(layout.audioOffset + layout.audioLength, ref.end, 'and ends where its last frame ends')
  t.equal(layout.frameCount, ref.frames, 'as many frames as ffprobe lists')
}

const lameCbr = (await makeMp3(dir, 'cbr', { seconds: 3, freq: 440, lame: ['-b', '24'] })).bytes
const lameBare = (await makeMp3(dir, 'bare', { seconds: 3, freq: 440, lame: ['-t', '-b', '24'] })).bytes
const lameVbr = (await makeMp3(dir, 'vbr', { seconds: 3, freq: 440, lame: ['-V', '5'] })).bytes

t.test('an untouched LAME file: its Info/Xing counts are used, only its tail is read', async (t) => {
  for (const bytes of [lameCbr, lameVbr]) {
    const { layout, reads } = await probe(bytes)
    await checkWithFfprobe(t, bytes, layout)
    t.equal(layout.counted, false)
    t.same(reads.ranges, [[bytes.length - TAIL_PROBE_BYTES, bytes.length]], 'one ranged read: the tail')
    t.equal(reads.streamed, 0, 'no counting pass')
  }
  t.equal((await probe(lameCbr)).layout.bitrateIndex, parseFrameHeader(lameCbr, 0).bitrateIndex, 'Info: constant bitrate')
  t.equal((await probe(lameVbr)).layout.bitrateIndex, null, 'Xing: variable')
})

t.test('no Info frame: the frames are counted in one pass, in any chunking', async (t) => {
  const results: Mp3Layout[] = []
  for (const chunk of [1, 3, 7, 4096, 1 << 20]) {
    const { layout, reads } = await probe(lameBare, { chunk })
    results.push(layout)
    t.equal(reads.streamed, lameBare.length, `chunks of ${chunk}: the file read through once`)
  }
  t.ok(results.every((l) => l.counted && l.frameCount === results[0]?.frameCount && l.audioLength === results[0]?.audioLength))
  await checkWithFfprobe(t, lameBare, results[0] as Mp3Layout)
  t.equal(results[0]?.bitrateIndex, parseFrameHeader(lameBare, 0).bitrateIndex, 'one bitrate seen: CBR')
  const whole = await probe(lameBare, { headBytes: lameBare.length })
  t.same(whole.reads, { ranges: [], streamed: 0 }, 'a file whole in the head is counted there: no request')
  t.equal(whole.layout.frameCount, results[0]?.frameCount)
})

t.test('a file cut short: the cut-off last frame is left out and the Info count is not trusted', async (t) => {
  for (const whole of [lameCbr, lameBare, lameVbr]) {
    const ref = await reference(whole)
    const cut = whole.subarray(0, ref.end - 50)
    const { layout } = await probe(cut)
    t.equal(layout.counted, true, 'counted: the Info byte count no longer matches the file')
    t.equal(layout.frameCount, ref.frames - 1)
    const lastWhole = (await ffprobePackets(await writeTo(whole))).at(-2)
    t.equal(layout.audioOffset + layout.audioLength, (lastWhole?.pos ?? 0) + (lastWhole?.size ?? 0), 'audio ends after the last whole frame')
  }
})

async function writeTo(bytes: Buffer): Promise<string> {
  const path = join(dir, `file-${counter++}.mp3`)
  await writeFile(path, bytes)
  return path
}

t.test('tags at both ends are left out: ID3v2 (repeated, with footer), APEv2 with and without header, appended ID3v2, ID3v1', async (t) => {
  const footerTag = id3v24WithFooter('with footer')
  const variants: [string, Buffer, Buffer][] = [
    ['two ID3v2 tags', Buffer.concat([id3v2Tag('first', 100), id3v2Tag('second'), lameCbr]), lameCbr],
    ['ID3v2.4 with footer', Buffer.concat([footerTag, lameCbr]), lameCbr],
    ['APEv2 with header + ID3v1', Buffer.concat([lameCbr, apeTag({ Artist: 'x', Title: 'y' }, true), id3v1Tag('t')]), lameCbr],
    ['APEv2 without header', Buffer.concat([lameVbr, apeTag({ Title: 'y' }, false)]), lameVbr],
    ['appended ID3v2 + ID3v1', Buffer.concat([lameBare, footerTag, id3v1Tag('t')]), lameBare],
    ['everything', Buffer.concat([id3v2Tag('a', 10), footerTag, lameVbr, apeTag({ A: 'b' }, true), footerTag, id3v1Tag('z')]), lameVbr]
  ]
  for (const [name, bytes, inner] of variants) {
    const { layout } = await probe(bytes)
    const bare = (await probe(inner)).layout
    t.equal(layout.audioOffset, bytes.indexOf(inner) + bare.audioOffset, `${name}: audio starts where it does in the untagged file`)
    t.equal(layout.audioLength, bare.audioLength, `${name}: the same audio bytes`)
    t.equal(layout.frameCount, bare.frameCount, `${name}: the same frames`)
    t.equal(layout.counted, inner === lameBare, `${name}: an Info count is still trusted between tags`)
  }
  // ffprobe agrees where it reads the tags (it skips neither an appended ID3v2 nor a header-less APEv2).
  for (const [, bytes] of variants.slice(0, 3)) await checkWithFfprobe(t, bytes, (await probe(bytes)).layout)
})

/** ID3v2.4 with the footer flag: header, a frame, and a `3DI` footer repeating the header. */
function id3v24WithFooter(title: string): Buffer {
  const v23 = id3v2Tag(title)
  const header = Buffer.from(v23.subarray(0, 10))
  header[3] = 4
  header[5] = 0x10
  const footer = Buffer.from(header)
  footer.write('3DI', 0, 'latin1')
  return Buffer.concat([header, v23.subarray(10), footer])
}

t.test('an ID3v2 tag of several MiB (cover art) costs one read after it, not the tag', async (t) => {
  const big = Buffer.concat([id3v2Tag('cover', 3 * 1024 * 1024), lameCbr])
  const { layout, reads } = await probe(big)
  await checkWithFfprobe(t, big, layout)
  t.ok(reads.ranges.every(([s, e]) => e - s <= 8192), `small reads only: ${JSON.stringify(reads.ranges)}`)
  t.equal(reads.ranges[0]?.[0], big.length - lameCbr.length, 'the first read starts where the tag ends')
})

t.test('bytes that are not frames between the tag and the first frame are skipped when a second frame confirms it', async (t) => {
  const padded = Buffer.concat([id3v2Tag('t'), Buffer.alloc(700), lameBare])
  const { layout } = await probe(padded)
  t.equal(layout.audioOffset, padded.length - lameBare.length)
  await checkWithFfprobe(t, padded, layout)
})

t.test('VBRI (Fraunhofer) frame: skipped, its counts not trusted, the frames counted', async (t) => {
  const first = parseFrameHeader(lameBare, 0)
  const vbri = Buffer.alloc(first.frameLength)
  lameBare.copy(vbri, 0, 0, 4)
  vbri.write('VBRI', 36, 'latin1')
  vbri.writeUInt16BE(1, 40)
  vbri.writeUInt32BE(12345, 46)
  vbri.writeUInt32BE(999, 50)
  const file = Buffer.concat([vbri, lameBare])
  const { layout } = await probe(file)
  t.equal(layout.audioOffset, vbri.length)
  t.equal(layout.counted, true)
  await checkWithFfprobe(t, file, layout)
})

t.test('files that are not MPEG audio, or change format inside, are refused with a reason', async (t) => {
  await t.rejects(probe(Buffer.from('<?xml version="1.0"?><error code="5" message="no such file"/>')), { name: 'Mp3ParseError', message: /no MPEG audio frame within/ })
  const stereo = (await makeMp3(dir, 'stereo', { seconds: 1, rate: 8000, channels: 2, lame: ['-t', '-b', '24'] })).bytes
  await t.rejects(probe(Buffer.concat([lameBare, stereo])), {
    message: /the frame at offset \d+ is MP3 \(MPEG-2.5 Layer III, 8000 Hz, stereo\), the file started as MP3 \(MPEG-2.5 Layer III, 8000 Hz, mono\)/
  })
  await t.rejects(probe(Buffer.concat([lameBare, Buffer.alloc(500, 0x55)])), { message: /no valid MPEG audio frame header at offset \d+ \(frame \d+\): no frame sync/ })
  const infoLength = parseFrameHeader(lameCbr, 0).frameLength
  const noFrameAfterInfo = Buffer.from(lameCbr)
  noFrameAfterInfo.fill(0x20, infoLength, infoLength + 4)
  await t.rejects(probe(noFrameAfterInfo), { message: `no valid MPEG audio frame header at offset ${infoLength} (frame 1): no frame sync (bytes 2020)` }, 'an Info count is not trusted without a frame after it')
  const hugeApe = Buffer.concat([lameBare, apeTag({ A: 'b' }, false)])
  hugeApe.writeUInt32LE(10_000_000, hugeApe.length - 32 + 12)
  await t.rejects(probe(hugeApe), { message: /APEv2 tag .* declares \d+ bytes, more than the file holds/ })
  await t.rejects(
    probeMp3Layout({ size: 10_000, head: Buffer.alloc(0), readBytes: async () => Buffer.alloc(3), streamBytes: async function* () {} }),
    { message: /gave 3 bytes instead of/ },
    'a short ranged read is an error, not a loop'
  )
})

t.test('the pieces: tag parsers ask for exactly the bytes they miss', async (t) => {
  const tag = id3v2Tag('a', 5000)
  const tagged = Buffer.concat([tag, lameCbr])
  const need = catchNeed(() => skipLeadingId3v2({ offset: 0, bytes: tagged.subarray(0, 100) }, tagged.length))
  t.match(need, { start: tag.length, end: tag.length + 10, resumeAt: tag.length }, 'the header of whatever follows the first tag')
  t.equal(skipLeadingId3v2({ offset: tag.length, bytes: tagged.subarray(tag.length, 6000) }, tagged.length, tag.length), tag.length)

  const tail = Buffer.concat([lameCbr, apeTag({ A: 'b' }, true), id3v1Tag('x')])
  const apeStart = lameCbr.length
  t.equal(findTrailingTags({ offset: tail.length - 300, bytes: tail.subarray(-300) }, tail.length, 0), apeStart)
  const short = catchNeed(() => findTrailingTags({ offset: tail.length - 130, bytes: tail.subarray(-130) }, tail.length, 0))
  t.match(short, { end: tail.length - 128, resumeAt: tail.length - 128 }, 'the APE footer before ID3v1, resuming there')
  t.equal(findTrailingTags({ offset: 0, bytes: tail }, tail.length, 0, tail.length - 128), apeStart, 'resumed: ID3v1 is not looked for again')
  t.equal(MAX_PROBE_WINDOW_BYTES, 1024 * 1024)
})

function catchNeed(fn: () => unknown): Mp3NeedBytes {
  try {
    fn()
  } catch (err) {
    if (err instanceof Mp3NeedBytes) return err
    throw err
  }
  throw new Error('no Mp3NeedBytes thrown')
}

t.test('the frame counter alone: done at the end, an error when the bytes stop early', async (t) => {
  const h = parseFrameHeader(lameBare, 0)
  const format = { version: h.version, layer: h.layer, sampleRate: h.sampleRate, channels: h.channels }
  const counter = new Mp3FrameCounter(format, 0, lameBare.length)
  counter.push(lameBare.subarray(0, 1000))
  t.equal(counter.done, false)
  t.throws(() => counter.finish(), Mp3ParseError, 'finish before the end: the file was short')
  const empty = new Mp3FrameCounter(format, 100, 102)
  t.equal(empty.done, true, 'fewer bytes than a header: nothing to count')
  t.same(empty.finish(), { frames: 0, end: 100, bitrateIndex: null })
})
