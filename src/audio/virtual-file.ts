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
