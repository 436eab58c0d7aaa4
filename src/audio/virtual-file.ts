/*
 * A merged leg as one file that exists only as arithmetic: prefix bytes made here (a WAV header, an
 * MP3 Info frame), then byte ranges of the stored segments in order, then suffix bytes (WAV's pad
 * byte). Any byte range of it maps to ranges of the segments, so a Range request costs only the bytes
 * asked for, and nothing is buffered beyond stream chunks. Format-neutral: src/audio/wav and
 * src/audio/mp3 plan it, this module serves it.
 */

/** One segment's share of the virtual file; parts are in segment order, one per segment. */
export interface VirtualPart {
  /** Where this segment's bytes start in its stored file. */
  readonly fileOffset: number
  readonly length: number
  /** Where they start in the virtual file. */
  readonly virtualOffset: number
}

export interface VirtualFile {
  /** Exact total bytes: prefix + every part + suffix. */
  readonly size: number
  readonly prefix: Buffer
  /** One per segment, same order and index (empty segments included, with length 0). */
  readonly parts: readonly VirtualPart[]
  readonly suffix: Buffer
}

/** Lays `lengths` out one after another after `prefix`: the parts of a virtual file. */
export function layOutParts(prefixLength: number, segments: readonly { readonly fileOffset: number; readonly length: number }[]): VirtualPart[] {
  let virtualOffset = prefixLength
  return segments.map(({ fileOffset, length }) => {
    const part = { fileOffset, length, virtualOffset }
    virtualOffset += length
    return part
  })
}

/** Inclusive byte range, like HTTP's `bytes=start-end`. */
export interface InclusiveRange {
  readonly start: number
  readonly end: number
}

/** A run of bytes of the virtual file: made here, or read from one segment (inclusive FILE offsets). */
export type Piece =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'segment'; readonly index: number; readonly range: InclusiveRange; readonly length: number }

/** Which pieces the inclusive virtual range [start, end] covers, in order. */
export function piecesFor(v: VirtualFile, start: number, end: number): Piece[] {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end >= v.size) {
    throw new RangeError(`range ${start}-${end} is outside the virtual file of ${v.size} bytes`)
  }
  const pieces: Piece[] = []
  const prefixLength = v.prefix.length
  if (start < prefixLength) pieces.push({ kind: 'bytes', bytes: v.prefix.subarray(start, Math.min(end + 1, prefixLength)) })
  v.parts.forEach((part, index) => {
    if (part.length === 0) return
    const from = Math.max(start, part.virtualOffset)
    const to = Math.min(end, part.virtualOffset + part.length - 1)
    if (from > to) return
    const fileStart = part.fileOffset + (from - part.virtualOffset)
    pieces.push({ kind: 'segment', index, range: { start: fileStart, end: fileStart + (to - from) }, length: to - from + 1 })
  })
  const suffixOffset = v.size - v.suffix.length
  if (v.suffix.length > 0 && end >= suffixOffset) {
    pieces.push({ kind: 'bytes', bytes: v.suffix.subarray(Math.max(0, start - suffixOffset), end - suffixOffset + 1) })
  }
  return pieces
}
