import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
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
