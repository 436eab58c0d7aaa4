import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { makeTone, type ToneOptions } from './sox.js'

/*
 * The independent MP3 references of the tests, all from Debian: lame encodes the fixtures (from sox
 * tones, at test time, into a temporary directory), ffprobe lists the frames of a file, ffmpeg and
 * mpg123 decode. Tags lame cannot write (APEv2) are built here from the format's documentation,
 * independently of src/audio/mp3.
 */

const run = promisify(execFile)
const MAX_BUFFER = 512 * 1024 * 1024

export interface Mp3FixtureOptions extends ToneOptions {
  /** lame's options, e.g. ['-b', '24'] (CBR), ['-V', '5'] (VBR), ['-t'] (no Info frame), ['--add-id3v2', '--tt', 'x']. */
  lame: readonly string[]
}

/** A sox tone encoded by lame: `lame --quiet <opts> tone.wav out.mp3`. Returns the MP3's bytes. */
export async function makeMp3(dir: string, name: string, opts: Mp3FixtureOptions): Promise<{ path: string; bytes: Buffer }> {
  const wav = await makeTone(join(dir, `${name}.wav`), opts)
  const path = join(dir, `${name}.mp3`)
  await run('lame', ['--quiet', ...opts.lame, wav, path], { maxBuffer: MAX_BUFFER })
  return { path, bytes: await readFile(path) }
}

export interface ProbedPacket {
  /** File offset of the frame, as ffprobe reports it. */
  pos: number
  size: number
  /** The frame's bytes, from ffprobe's hex dump (-show_data). */
  data: Buffer
}

/**
 * The audio frames ffprobe finds in a file, in order, with their bytes: `ffprobe -show_packets -show_data`.
 * ffmpeg strips an APEv2 tag only when it has a header; a header-less one comes out as a last "packet"
 * that starts with `APETAGEX`, not with a frame sync, and is left out here: it is no frame.
 */
export async function ffprobePackets(path: string): Promise<ProbedPacket[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_packets', '-show_data', '-of', 'json', path], { maxBuffer: MAX_BUFFER })
  const parsed = JSON.parse(stdout) as { packets?: { pos: string; size: string; data: string }[] }
  return (parsed.packets ?? [])
    .map((p) => ({ pos: Number(p.pos), size: Number(p.size), data: fromHexDump(p.data) }))
    .filter((p) => p.data[0] === 0xff && ((p.data[1] ?? 0) & 0xe0) === 0xe0)
}

/** ffmpeg's av_hex_dump: `%08x: ` then 16 bytes as 8 groups of 4 hex digits, then the bytes as text. */
function fromHexDump(dump: string): Buffer {
  const hex = dump
    .split('\n')
    .filter((line) => /^[0-9a-f]{8}: /.test(line))
    .map((line) => line.slice(10, 10 + 40).replace(/ /g, ''))
    .join('')
  return Buffer.from(hex, 'hex')
}

export interface ProbedFormat {
  durationSeconds: number
  sampleRate: number
  channels: number
  codec: string
}

export async function ffprobeFormat(path: string): Promise<ProbedFormat> {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration:stream=sample_rate,channels,codec_name', '-of', 'json', path],
    { maxBuffer: MAX_BUFFER }
  )
  const parsed = JSON.parse(stdout) as { format: { duration: string }; streams: { sample_rate: string; channels: number; codec_name: string }[] }
  const stream = parsed.streams[0]
  if (!stream) throw new Error(`ffprobe ${path}: no stream`)
  return { durationSeconds: Number(parsed.format.duration), sampleRate: Number(stream.sample_rate), channels: stream.channels, codec: stream.codec_name }
}

export interface Decoded {
  /** Interleaved 16-bit samples. */
  samples: Int16Array
  /** What the decoder wrote to stderr: empty when it found nothing wrong. */
  stderr: string
}

function toInt16(raw: Buffer): Int16Array {
  const copy = new Uint8Array(raw)
  return new Int16Array(copy.buffer, 0, copy.byteLength >> 1)
}

/** `ffmpeg -v error -i file -f s16le -`: errors and warnings about the stream land in stderr. */
export async function ffmpegDecode(path: string): Promise<Decoded> {
  const { stdout, stderr } = await run('ffmpeg', ['-v', 'error', '-nostdin', '-i', path, '-f', 's16le', '-acodec', 'pcm_s16le', '-'], {
    encoding: 'buffer',
    maxBuffer: MAX_BUFFER
  })
  return { samples: toInt16(stdout), stderr: stderr.toString() }
}

/**
 * `mpg123 --no-gapless -s -e s16`: raw samples. Gapless trimming is off so that every frame's samples
 * come out, as they do for a stream without LAME's encoder-delay fields (the merged one).
 */
export async function mpg123Decode(path: string): Promise<Decoded> {
  const { stdout, stderr } = await run('mpg123', ['-q', '--no-gapless', '-e', 's16', '-s', path], { encoding: 'buffer', maxBuffer: MAX_BUFFER })
  return { samples: toInt16(stdout), stderr: stderr.toString() }
}

/**
 * An APEv2 tag (as written by e.g. foobar2000/mp3gain): optional 32-byte header, items (`size`,
 * `flags`, key, NUL, value), 32-byte footer. The footer's size counts the items and the footer.
 */
export function apeTag(items: Record<string, string>, withHeader: boolean): Buffer {
  const bodies = Object.entries(items).map(([key, value]) => {
    const v = Buffer.from(value, 'utf8')
    const head = Buffer.alloc(8)
    head.writeUInt32LE(v.length, 0)
    return Buffer.concat([head, Buffer.from(key, 'latin1'), Buffer.alloc(1), v])
  })
  const itemBytes = Buffer.concat(bodies)
  const block = (isHeader: boolean): Buffer => {
    const b = Buffer.alloc(32)
    b.write('APETAGEX', 0, 'latin1')
    b.writeUInt32LE(2000, 8)
    b.writeUInt32LE(itemBytes.length + 32, 12)
    b.writeUInt32LE(bodies.length, 16)
    b.writeUInt32LE(((withHeader ? 0x80000000 : 0) | (isHeader ? 0x20000000 : 0)) >>> 0, 20)
    return b
  }
  return Buffer.concat([withHeader ? block(true) : Buffer.alloc(0), itemBytes, block(false)])
}

/** An ID3v1 tag: `TAG` + title, artist, album (30 each), year (4), comment (30), genre (1). */
export function id3v1Tag(title: string): Buffer {
  const b = Buffer.alloc(128)
  b.write('TAG', 0, 'latin1')
  b.write(title.slice(0, 30), 3, 'latin1')
  b[127] = 255
  return b
}

/** An ID3v2.3 tag with one TIT2 frame and `padding` zero bytes, size written syncsafe. */
export function id3v2Tag(title: string, padding = 0): Buffer {
  const text = Buffer.concat([Buffer.from([0]), Buffer.from(title, 'latin1')])
  const frameHeader = Buffer.alloc(10)
  frameHeader.write('TIT2', 0, 'latin1')
  frameHeader.writeUInt32BE(text.length, 4)
  const body = Buffer.concat([frameHeader, text, Buffer.alloc(padding)])
  const header = Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0])
  let size = body.length
  for (let i = 9; i >= 6; i--) {
    header[i] = size & 0x7f
    size >>= 7
  }
  return Buffer.concat([header, body])
}

/*
 * Why samples right after a joint may differ: a Layer III decoder overlaps each granule's inverse MDCT
 * with the previous granule (576 samples) and its polyphase synthesis filter keeps 512 samples of
 * history. Decoded alone, a segment's first granule overlaps with silence; in the merged stream it
 * overlaps with the previous segment's last one. So up to 576 + 512 samples per channel after each
 * joint depend on the segment before; everything else must come out the same.
 */
export const JOINT_WINDOW_SAMPLES = 576 + 512

export interface Comparison {
  /** Differences outside the joint windows, beyond the tolerance. */
  outside: number
  firstOutside: number
  /** Differences inside the windows (expected, for information). */
  inside: number
}

export function compareAcrossJoints(merged: Int16Array, parts: readonly Int16Array[], channels: number, tolerance: number): Comparison {
  const windows: [number, number][] = []
  let offset = 0
  parts.forEach((p, i) => {
    if (i > 0) windows.push([offset, offset + JOINT_WINDOW_SAMPLES * channels])
    offset += p.length
  })
  const reference = new Int16Array(offset)
  offset = 0
  for (const p of parts) {
    reference.set(p, offset)
    offset += p.length
  }
  const result: Comparison = { outside: 0, firstOutside: -1, inside: 0 }
  const n = Math.min(reference.length, merged.length)
  for (let i = 0; i < n; i++) {
    const diff = Math.abs((reference[i] as number) - (merged[i] as number))
    if (diff === 0) continue
    if (windows.some(([from, to]) => i >= from && i < to)) result.inside++
    else if (diff > tolerance) {
      result.outside++
      if (result.firstOutside < 0) result.firstOutside = i
    }
  }
  return result
}

export interface DecodeCheck {
  decoder: 'ffmpeg' | 'mpg123'
  /** What the decoder said about the merged stream: empty when nothing was wrong. */
  stderr: string
  /** Samples (all channels) decoded from the merged stream, and from the parts one by one. */
  samples: number
  partSamples: number
  /** Samples outside the joint windows that differ beyond the decoder's tolerance; the first one's index. */
  outside: number
  firstOutside: number
}

/**
 * Decodes `mergedPath` and each part's frames (as ffprobe listed them, written alone to a file: no
 * tags, no Info frame, so no gapless trimming) with ffmpeg and mpg123, and compares the samples.
 */
export async function decodeAgainstParts(mergedPath: string, partPackets: readonly ProbedPacket[][], workPrefix: string, channels: number): Promise<DecodeCheck[]> {
  const framesOnly = await Promise.all(
    partPackets.map(async (packets, i) => {
      const path = `${workPrefix}-part${i}-frames.mp3`
      await writeFile(path, Buffer.concat(packets.map((p) => p.data)))
      return path
    })
  )
  const decoders = [
    { decoder: 'ffmpeg', decode: ffmpegDecode, tolerance: 0 },
    // mpg123's synthesis filter writes into a 16-phase ring buffer whose phase carries on across a joint,
    // so its floating-point sums run in another order than in a fresh decoder: ±1 in the last bit.
    { decoder: 'mpg123', decode: mpg123Decode, tolerance: 1 }
  ] as const
  const results: DecodeCheck[] = []
  for (const { decoder, decode, tolerance } of decoders) {
    const whole = await decode(mergedPath)
    const parts = (await Promise.all(framesOnly.map(decode))).map((p) => p.samples)
    const cmp = compareAcrossJoints(whole.samples, parts, channels, tolerance)
    results.push({
      decoder,
      stderr: whole.stderr,
      samples: whole.samples.length,
      partSamples: parts.reduce((sum, p) => sum + p.length, 0),
      outside: cmp.outside,
      firstOutside: cmp.firstOutside
    })
  }
  return results
}
