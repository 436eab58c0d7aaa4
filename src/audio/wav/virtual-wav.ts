import { FormatMismatchError } from '../../errors.js'
import type { ByteRange } from '../../recording.js'
import { layOutParts, streamVirtualFile, type OpenSegment as OpenVirtualSegment, type VirtualFile, type VirtualFileReadable, type VirtualPart } from '../virtual-file.js'
import { buildWavHeader, describeFormat, isPcm, sameFormat, sampleFrames, type WavFormat, type WavLayout } from './riff.js'

/*
 * A merged leg as one WAV file: a fresh header (the virtual file's prefix), then the data payloads of
 * the stored segments in order, then a pad byte when the data is odd (its suffix). Served by the
 * format-neutral src/audio/virtual-file.ts.
 */

export type VirtualSegment = VirtualPart

export interface VirtualWav extends VirtualFile {
  /** The same bytes as `prefix`: the RIFF header. */
  readonly header: Buffer
  readonly format: WavFormat
  readonly dataLength: number
  /** The same list as `parts`: one per input layout, same order and index (empty segments with length 0). */
  readonly segments: readonly VirtualSegment[]
}

/** Throws FormatMismatchError naming both formats when the segments cannot share one header. */
export function planVirtualWav(layouts: readonly WavLayout[]): VirtualWav {
  const first = layouts[0]
  if (!first) throw new TypeError('planVirtualWav needs at least one segment')
  const format = first.format
  for (const layout of layouts) {
    if (!sameFormat(format, layout.format)) {
      const [a, b] = describeBoth(format, layout.format)
      throw new FormatMismatchError(a, b)
    }
  }
  const dataLength = layouts.reduce((sum, l) => sum + l.dataLength, 0)
  const header = buildWavHeader(format, dataLength, isPcm(format) ? null : totalSamples(layouts))
  const segments = layOutParts(
    header.length,
    layouts.map((l) => ({ fileOffset: l.dataOffset, length: l.dataLength }))
  )
  // RIFF chunks are padded to even length: an odd data chunk is followed by one zero byte.
  const suffix = Buffer.alloc(dataLength & 1)
  return { size: header.length + dataLength + suffix.length, prefix: header, header, suffix, format, dataLength, segments, parts: segments }
}

/** Formats can differ in details describeFormat leaves out (block size, GSM parameters): show them then. */
function describeBoth(a: WavFormat, b: WavFormat): [string, string] {
  const da = describeFormat(a)
  const db = describeFormat(b)
  if (da !== db) return [da, db]
  const detail = (f: WavFormat): string => `${describeFormat(f)} (block ${f.blockAlign} bytes, fmt ${f.fmtBody.toString('hex')})`
  return [detail(a), detail(b)]
}

/**
 * The `fact` count of the concatenation: the sum of each segment's count. A segment's own `fact` wins
 * (it excludes codec padding, e.g. sox pads the last GSM block), except where it cannot be right: 0 or
 * more samples than the data holds are what streaming recorders and truncated files leave behind.
 */
function totalSamples(layouts: readonly WavLayout[]): number | null {
  let total = 0
  for (const l of layouts) {
    const computed = sampleFrames(l.format, l.dataLength)
    const fact = l.factSamples !== null && l.factSamples > 0 ? l.factSamples : null
    const samples = fact !== null && computed !== null ? Math.min(fact, computed) : (computed ?? fact)
    if (samples === null) return null
    total += samples
  }
  return total
}

/** Opens bytes [range.start, range.end] (inclusive, FILE offsets) of segment `index`. */
export type OpenSegment = OpenVirtualSegment

/**
 * The bytes [range.start, range.end] (inclusive, VIRTUAL offsets) of the virtual WAV as one Readable;
 * see streamVirtualFile for how segments are opened, cut short and aborted.
 */
export function streamVirtualWav(v: VirtualWav, range: ByteRange, open: OpenSegment, signal?: AbortSignal): VirtualFileReadable {
  return streamVirtualFile(v, range, open, signal)
}
