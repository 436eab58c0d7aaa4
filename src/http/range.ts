import type { ByteRange } from '../recording.js'

/** What a `Range` header asks of a representation of known size. */
export type RangeRequest =
  /** No usable Range header: answer 200 with the whole representation. */
  | { readonly kind: 'full' }
  /** Answer 206 with this inclusive range. */
  | { readonly kind: 'partial'; readonly range: ByteRange }
  /** Answer 416 with `Content-Range: bytes *\/size`. */
  | { readonly kind: 'unsatisfiable' }

const FULL: RangeRequest = { kind: 'full' }
const UNSATISFIABLE: RangeRequest = { kind: 'unsatisfiable' }

/*
 * RFC 9110 §14.1.2: `bytes=first-last`, `bytes=first-`, `bytes=-suffix`, comma separated, unit
 * case-insensitive, optional whitespace around commas.
 */
const SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/
// Digits beyond 2^53 become imprecise floats, which is harmless: such offsets lie past any real file
// (a start is unsatisfiable, an end is clamped, a suffix means the whole representation).

/**
 * Interprets a Range header (RFC 9110 §14) for a representation of `size` bytes.
 *
 * - A header that is absent, not `bytes`, or syntactically invalid is ignored (§14.2: a server MAY
 *   ignore Range; an invalid one MUST be ignored), so the client gets 200 with the whole body.
 * - Several ranges are coalesced into the one range spanning all satisfiable ones (§14.2 allows
 *   coalescing): one 206 with one Content-Range, never multipart/byteranges. Browsers seeking audio send
 *   one range anyway, and a span costs at most the bytes of a full answer.
 * - When no range is satisfiable (all start at or beyond the end, or a zero-length suffix), 416.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return FULL
  const eq = header.indexOf('=')
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return FULL

  const specs = header.slice(eq + 1).split(',').map((s) => s.trim())
  let start = Infinity
  let end = -1
  for (const spec of specs) {
    // Empty list elements are allowed by the list syntax (RFC 9110 §5.6.1), e.g. `bytes=0-1,,5-6`.
    if (spec === '') continue
    const m = SPEC.exec(spec)
    if (m === null) return FULL
    let first: number
    let last: number
    if (m[3] !== undefined) {
      const suffix = Number(m[3])
      if (suffix === 0) continue
      first = Math.max(0, size - suffix)
      last = size - 1
    } else {
      const a = Number(m[1])
      const b = m[2] === '' ? null : Number(m[2])
      if (b !== null && b < a) return FULL
      first = a
      last = b === null ? size - 1 : Math.min(b, size - 1)
    }
    if (first >= size) continue
    start = Math.min(start, first)
    end = Math.max(end, last)
  }
  if (specs.every((s) => s === '')) return FULL
  if (end < 0) return UNSATISFIABLE
  return { kind: 'partial', range: { start, end } }
}

/**
 * Honours `If-Range` (RFC 9110 §13.1.5): the Range applies only while the client's copy is current.
 * We never send Last-Modified, so a date never matches; an entity tag must match strongly.
 */
export function ifRangeAllows(ifRange: string | undefined, etag: string): boolean {
  if (ifRange === undefined) return true
  const v = ifRange.trim()
  return !v.startsWith('W/') && v === etag
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`
}

export function unsatisfiedContentRange(size: number): string {
  return `bytes */${size}`
}

/** A `Content-Range` an upstream answered with: a satisfied range, or `*` with the size for a 416. */
export type ContentRange =
  | { readonly start: number; readonly end: number; readonly size: number | null }
  | { readonly start: null; readonly end: null; readonly size: number }

const CONTENT_RANGE = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i

/** Parses `bytes a-b/size`, `bytes a-b/*` or `bytes *\/size`; null for anything else. */
export function parseContentRange(header: string | undefined): ContentRange | null {
  if (header === undefined) return null
  const m = CONTENT_RANGE.exec(header.trim())
  if (m === null) return null
  const size = m[3] === '*' ? null : Number(m[3])
  if (m[1] === undefined) return size === null ? null : { start: null, end: null, size }
  const start = Number(m[1])
  const end = Number(m[2])
  if (end < start || (size !== null && end >= size)) return null
  return { start, end, size }
}
