import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

/*
 * sox is the reference implementation every WAV test compares against: fixtures are generated with it
 * at test time (nothing binary is committed) and our output is decoded by it, sample by sample.
 */

const run = promisify(execFile)
const SOX = 'sox'
/** Decoded PCM of a long recording can be large; the default 1 MiB would cut it off. */
const MAX_BUFFER = 512 * 1024 * 1024

export type SoxEncoding =
  | 'pcm8'
  | 'pcm16'
  | 'pcm24'
  | 'pcm32'
  | 'float32'
  | 'ulaw'
  | 'alaw'
  | 'gsm'

const ENCODING_ARGS: Record<SoxEncoding, readonly string[]> = {
  pcm8: ['-e', 'unsigned-integer', '-b', '8'],
  pcm16: ['-e', 'signed-integer', '-b', '16'],
  pcm24: ['-e', 'signed-integer', '-b', '24'],
  pcm32: ['-e', 'signed-integer', '-b', '32'],
  float32: ['-e', 'floating-point', '-b', '32'],
  ulaw: ['-e', 'u-law'],
  alaw: ['-e', 'a-law'],
  gsm: ['-e', 'gsm-full-rate']
}

export interface ToneOptions {
  /** Length in seconds; or give `samples` for an exact count (e.g. an odd one, for odd-length µ-law data). */
  seconds?: number
  /** Exact length in samples per channel; wins over `seconds`. */
  samples?: number
  /** Default 8000. */
  rate?: number
  /** Default 1. */
  channels?: number
  /** Default 'pcm16'. */
  encoding?: SoxEncoding
  /**
   * Hz. Give each segment its own frequency so a wrong order is detected; each further channel gets
   * `freq + 220 * channelIndex` so swapped or misaligned channels are detected too. Default 440.
   */
  freq?: number
  /**
   * false forces the plain WAVE_FORMAT_PCM header (`-t wavpcm`) even where sox would otherwise write
   * WAVE_FORMAT_EXTENSIBLE (more than 2 channels or more than 16 bits). Default: sox decides.
   */
  extensible?: boolean
}

/** Writes a sine tone WAV with sox, e.g. `sox -n -r 8000 -c 1 -e signed-integer -b 16 out.wav synth 1.5 sine 440`. */
export async function makeTone(path: string, opts: ToneOptions): Promise<string> {
  const rate = opts.rate ?? 8000
  const channels = opts.channels ?? 1
  const freq = opts.freq ?? 440
  const encoding = opts.encoding ?? 'pcm16'
  const length = opts.samples !== undefined ? `${opts.samples}s` : String(opts.seconds ?? 1)
  const synth: string[] = []
  for (let c = 0; c < channels; c++) synth.push('sine', String(freq + 220 * c))
  const type = opts.extensible === false ? ['-t', 'wavpcm'] : ['-t', 'wav']
  await run(
    SOX,
    // Rate and channels go on the null input too: otherwise synth runs at sox's default 48 kHz and the
    // result is resampled, which makes `samples` counts wrong.
    ['-r', String(rate), '-c', String(channels), '-n', '-r', String(rate), '-c', String(channels), ...ENCODING_ARGS[encoding], ...type, path, 'synth', length, ...synth],
    { maxBuffer: MAX_BUFFER }
  )
  return path
}

/** `sox a.wav b.wav out.wav`: the reference concatenation. */
export async function soxConcat(inputs: readonly string[], out: string): Promise<string> {
  await run(SOX, [...inputs, out], { maxBuffer: MAX_BUFFER })
  return out
}

/**
 * Decodes any WAV sox can read to raw interleaved samples of `bits` (signed integers, little endian).
 * Use 16 for the usual comparison; 32 keeps 24/32-bit sources exact. `-D`: no dither, so reducing a
 * 24-bit source to 16 bits gives the same samples on every run.
 */
export async function decodeSamples(path: string, bits: 8 | 16 | 32 = 16): Promise<Buffer> {
  const { stdout } = await run(
    SOX,
    ['-D', path, '-t', 'raw', '-e', 'signed-integer', '-b', String(bits), '-L', '-'],
    { encoding: 'buffer', maxBuffer: MAX_BUFFER }
  )
  return stdout
}

/** Decoded 16-bit samples, interleaved by channel. */
export async function soxSamples(path: string): Promise<Int16Array> {
  const raw = await decodeSamples(path, 16)
  // Copy so the view is aligned whatever offset Node gave the pooled buffer.
  const copy = new Uint8Array(raw)
  return new Int16Array(copy.buffer, 0, copy.byteLength >> 1)
}

export interface SoxInfo {
  channels: number
  sampleRate: number
  /** Samples per channel, as sox reports them (from the header). */
  samples: number
  /** e.g. "16-bit Signed Integer PCM", "8-bit u-law", "GSM". */
  encoding: string
  /** sox's "Precision" line, e.g. "16-bit". */
  precision: string
  durationSeconds: number
}

/** `sox --i`, parsed. Rejects when sox cannot read the header. */
export async function soxInfo(path: string): Promise<SoxInfo> {
  const { stdout } = await run(SOX, ['--i', path], { maxBuffer: MAX_BUFFER })
  const field = (name: string): string => {
    const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(stdout)
    if (!m?.[1]) throw new Error(`sox --i ${path}: no "${name}" in:\n${stdout}`)
    return m[1].trim()
  }
  const duration = /=\s*(\d+)\s+samples/.exec(field('Duration'))
  if (!duration?.[1]) throw new Error(`sox --i ${path}: unreadable Duration in:\n${stdout}`)
  const samples = Number(duration[1])
  const sampleRate = Number(field('Sample Rate'))
  return {
    channels: Number(field('Channels')),
    sampleRate,
    samples,
    encoding: field('Sample Encoding'),
    precision: field('Precision'),
    durationSeconds: samples / sampleRate
  }
}

/** Anything with tap's `teardown`, so helpers need not depend on tap's types. */
export interface Teardownable {
  teardown(fn: () => unknown): void
}

/** A fresh directory under os.tmpdir(), removed when the test ends. */
export async function tempDir(t: Teardownable, prefix = 'cxgw-wav-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}
