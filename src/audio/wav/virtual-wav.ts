import { Readable } from 'node:stream'
import { FormatMismatchError, UpstreamError } from '../../errors.js'
import type { ByteRange } from '../../recording.js'
import { buildWavHeader, describeFormat, isPcm, sameFormat, sampleFrames, type WavFormat, type WavLayout } from './riff.js'

/*
 * A merged leg as one WAV file that exists only as arithmetic: a fresh header followed by the data
 * payloads of the stored segments, in order. Any byte range of it maps to ranges of the segments, so a
 * Range request costs only the bytes asked for, and nothing is ever buffered beyond stream chunks.
 */

export interface VirtualSegment {
  /** Where this segment's usable data starts in its stored file. */
  readonly fileOffset: number
  readonly length: number
  /** Where it starts in the virtual file. */
  readonly virtualOffset: number
}

export interface VirtualWav {
  /** Exact total bytes of the virtual file (header + all data + pad byte if odd). */
  readonly size: number
  readonly header: Buffer
  readonly format: WavFormat
  readonly dataLength: number
  /** One per input layout, same order and index (empty segments included, with length 0). */
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
  let virtualOffset = header.length
  const segments = layouts.map((l) => {
    const segment = { fileOffset: l.dataOffset, length: l.dataLength, virtualOffset }
    virtualOffset += l.dataLength
    return segment
  })
  return { size: header.length + dataLength + (dataLength & 1), header, format, dataLength, segments }
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
export type OpenSegment = (index: number, range: ByteRange, signal: AbortSignal) => Promise<NodeJS.ReadableStream | Readable>

type Piece =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'segment'; readonly index: number; readonly range: ByteRange; readonly length: number }

/** Which parts of the virtual file the inclusive virtual range [start, end] covers, in order. */
function piecesFor(v: VirtualWav, start: number, end: number): Piece[] {
  const pieces: Piece[] = []
  const headerLength = v.header.length
  if (start < headerLength) pieces.push({ kind: 'bytes', bytes: v.header.subarray(start, Math.min(end + 1, headerLength)) })
  v.segments.forEach((seg, index) => {
    if (seg.length === 0) return
    const from = Math.max(start, seg.virtualOffset)
    const to = Math.min(end, seg.virtualOffset + seg.length - 1)
    if (from > to) return
    const fileStart = seg.fileOffset + (from - seg.virtualOffset)
    pieces.push({ kind: 'segment', index, range: { start: fileStart, end: fileStart + (to - from) }, length: to - from + 1 })
  })
  const padOffset = headerLength + v.dataLength
  if (padOffset < v.size && end >= padOffset) pieces.push({ kind: 'bytes', bytes: Buffer.alloc(1) })
  return pieces
}

type Upstream = NodeJS.ReadableStream & { destroy?: (error?: Error) => unknown }

const noop = (): void => {}

function discard(upstream: Upstream): void {
  upstream.on('error', noop)
  if (typeof upstream.destroy === 'function') upstream.destroy()
  else upstream.pause()
}

/** Memory per stream: one buffer of this size plus whatever chunk the upstream hands over. */
const HIGH_WATER_MARK = 64 * 1024

class VirtualWavStream extends Readable {
  readonly #pieces: Piece[]
  readonly #open: OpenSegment
  readonly #abort = new AbortController()
  readonly #outerSignal: AbortSignal | undefined
  readonly #onOuterAbort: () => void
  /** Upstreams not yet ended or destroyed; all are destroyed with this stream. */
  readonly #live = new Set<Upstream>()
  #next = 0
  #opening = false
  #current: { upstream: Upstream; piece: Extract<Piece, { kind: 'segment' }>; received: number; detach: () => void } | null = null

  constructor(pieces: Piece[], open: OpenSegment, signal: AbortSignal | undefined) {
    super({ highWaterMark: HIGH_WATER_MARK })
    this.#pieces = pieces
    this.#open = open
    this.#outerSignal = signal
    this.#onOuterAbort = () => this.destroy(abortReason(signal))
    // Destroyed right away (the error is emitted on a later tick) so that no segment is ever opened.
    if (signal?.aborted) this.destroy(abortReason(signal))
    else signal?.addEventListener('abort', this.#onOuterAbort, { once: true })
  }

  override _read(): void {
    if (this.#opening) return
    if (this.#current) this.#current.upstream.resume()
    else this.#pump()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#outerSignal?.removeEventListener('abort', this.#onOuterAbort)
    this.#current?.detach()
    this.#current = null
    this.#abort.abort()
    for (const upstream of this.#live) discard(upstream)
    this.#live.clear()
    callback(error)
  }

  /** Emits pieces until the consumer has enough or a segment has to be fetched. */
  #pump(): void {
    while (!this.destroyed) {
      const piece = this.#pieces[this.#next++]
      if (!piece) {
        this.push(null)
        return
      }
      if (piece.kind === 'segment') {
        this.#startSegment(piece)
        return
      }
      // The header waits until the segment after it is open: a segment that cannot even be opened (a
      // file gone or refused) is then an error before the first byte, which HTTP can still answer as JSON.
      const following = this.#pieces[this.#next]
      if (this.#next === 1 && following?.kind === 'segment') {
        this.#next++
        this.#startSegment(following, piece.bytes)
        return
      }
      if (!this.push(piece.bytes)) return
    }
  }

  #startSegment(piece: Extract<Piece, { kind: 'segment' }>, lead: Buffer | null = null): void {
    this.#opening = true
    // new Promise() also turns a synchronous throw of `open` into a rejection.
    new Promise<Upstream>((resolve) => resolve(this.#open(piece.index, piece.range, this.#abort.signal))).then(
      (upstream) => {
        this.#opening = false
        if (this.destroyed) return discard(upstream)
        if (lead !== null) this.push(lead)
        this.#attach(upstream, piece)
      },
      (error: unknown) => {
        this.#opening = false
        if (!this.destroyed) this.destroy(error instanceof Error ? error : new Error(String(error)))
      }
    )
  }

  #attach(upstream: Upstream, piece: Extract<Piece, { kind: 'segment' }>): void {
    this.#live.add(upstream)
    const onData = (chunk: Buffer | string): void => this.#onData(upstream, chunk)
    const onEnd = (): void => this.#onShort(upstream, 'ended')
    const onClose = (): void => this.#onShort(upstream, 'closed')
    const onError = (error: Error): void => {
      this.#live.delete(upstream)
      this.destroy(error)
    }
    const detach = (): void => {
      upstream.removeListener('data', onData)
      upstream.removeListener('end', onEnd)
      upstream.removeListener('close', onClose)
      upstream.removeListener('error', onError)
    }
    this.#current = { upstream, piece, received: 0, detach }
    upstream.on('error', onError)
    upstream.on('end', onEnd)
    upstream.on('close', onClose)
    upstream.on('data', onData)
    upstream.resume()
  }

  #onData(upstream: Upstream, chunk: Buffer | string): void {
    const current = this.#current
    if (!current || current.upstream !== upstream) return
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk
    const remaining = current.piece.length - current.received
    // An upstream that sends more than asked (a server ignoring Range's end) must not shift what follows.
    const used = bytes.length > remaining ? bytes.subarray(0, remaining) : bytes
    current.received += used.length
    const wantsMore = this.push(used)
    if (this.destroyed) return
    if (current.received === current.piece.length) {
      this.#finish(current.upstream, current.detach)
      if (wantsMore) this.#pump()
    } else if (!wantsMore) {
      upstream.pause()
    }
  }

  /** All expected bytes are in: stop listening, but let a well-behaved upstream end on its own. */
  #finish(upstream: Upstream, detach: () => void): void {
    detach()
    this.#current = null
    upstream.on('error', noop)
    const settled = (): void => {
      this.#live.delete(upstream)
    }
    upstream.once('end', settled)
    upstream.once('close', settled)
    // Anything after the expected bytes is surplus: stop the transfer rather than download it.
    upstream.on('data', () => {
      settled()
      discard(upstream)
    })
    upstream.resume()
  }

  #onShort(upstream: Upstream, how: string): void {
    const current = this.#current
    if (!current || current.upstream !== upstream) return
    this.#live.delete(upstream)
    const { piece, received } = current
    // Ending cleanly here would let an HTTP response with Content-Length look complete to nobody's benefit:
    // an error cuts the response so the client knows the file is short.
    this.destroy(
      new UpstreamError(
        `segment ${piece.index + 1}`,
        `${how} after ${received} of ${piece.length} bytes (file bytes ${piece.range.start}-${piece.range.end})`
      )
    )
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason
  return reason instanceof Error ? reason : new Error('virtual WAV stream aborted')
}

/**
 * The bytes [range.start, range.end] (inclusive, VIRTUAL offsets) of the virtual file as one Readable.
 * Segments are opened one after another, only when the consumer wants their bytes. A segment that
 * delivers fewer bytes than expected, or fails, destroys the stream with an error; destroying the
 * stream (or aborting `signal`) aborts the signal given to `open` and destroys the open upstream.
 */
export function streamVirtualWav(v: VirtualWav, range: ByteRange, open: OpenSegment, signal?: AbortSignal): Readable {
  const { start, end } = range
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end >= v.size) {
    throw new RangeError(`range ${start}-${end} is outside the virtual file of ${v.size} bytes`)
  }
  return new VirtualWavStream(piecesFor(v, start, end), open, signal)
}
