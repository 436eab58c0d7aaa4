import { Readable } from 'node:stream'
import { UpstreamError } from '../errors.js'
import type { ByteRange } from '../recording.js'

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

/** Lays the segments' byte runs out one after another after a prefix of `prefixLength` bytes. */
export function layOutParts(prefixLength: number, segments: readonly { readonly fileOffset: number; readonly length: number }[]): VirtualPart[] {
  let virtualOffset = prefixLength
  return segments.map(({ fileOffset, length }) => {
    const part = { fileOffset, length, virtualOffset }
    virtualOffset += length
    return part
  })
}

/** A run of bytes of the virtual file: made here, or read from one segment (inclusive FILE offsets). */
export type Piece =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'segment'; readonly index: number; readonly range: ByteRange; readonly length: number }

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

/** Opens bytes [range.start, range.end] (inclusive, FILE offsets) of segment `index`. */
export type OpenSegment = (index: number, range: ByteRange, signal: AbortSignal) => Promise<NodeJS.ReadableStream | Readable>

type Upstream = NodeJS.ReadableStream & { destroy?: (error?: Error) => unknown }

const noop = (): void => {}

function discard(upstream: Upstream): void {
  upstream.on('error', noop)
  if (typeof upstream.destroy === 'function') upstream.destroy()
  else upstream.pause()
}

/** Memory per stream: one buffer of this size plus whatever chunk the upstream hands over. */
const HIGH_WATER_MARK = 64 * 1024

/**
 * The reason the upstream calls are aborted when the stream closes without an error. One shared object:
 * abort() without a reason builds a DOMException with a stack trace for every stream, which was ~5% of
 * the CPU of a small ranged request (bench: profile).
 */
const STREAM_CLOSED = new Error('virtual file stream closed')

/** What streamVirtualFile returns. */
export interface VirtualFileReadable extends Readable {
  /**
   * Bytes the consumer has taken from the stream so far (pushed, minus what still waits in its buffer):
   * the count a 'data' listener would keep, without a second listener on every chunk.
   */
  readonly bytesOut: number
}

class VirtualFileStream extends Readable implements VirtualFileReadable {
  readonly #pieces: Piece[]
  readonly #open: OpenSegment
  readonly #abort = new AbortController()
  readonly #outerSignal: AbortSignal | undefined
  readonly #onOuterAbort: () => void
  /** Upstreams not yet ended or destroyed; all are destroyed with this stream. */
  readonly #live = new Set<Upstream>()
  #next = 0
  #pushed = 0
  #opening = false
  /** The first segment's upstream, asked for at construction (see the constructor); taken by its #startSegment. */
  #early: { piece: Piece; upstream: Promise<Upstream> } | null = null
  #current: { upstream: Upstream; piece: Extract<Piece, { kind: 'segment' }>; received: number; detach: () => void } | null = null

  constructor(pieces: Piece[], open: OpenSegment, signal: AbortSignal | undefined) {
    super({ highWaterMark: HIGH_WATER_MARK })
    this.#pieces = pieces
    this.#open = open
    this.#outerSignal = signal
    this.#onOuterAbort = () => this.destroy(abortReason(signal))
    // Destroyed right away (the error is emitted on a later tick) so that no segment is ever opened.
    if (signal?.aborted) {
      this.destroy(abortReason(signal))
      return
    }
    signal?.addEventListener('abort', this.#onOuterAbort, { once: true })
    // The request for the first segment (after the prefix, if any) goes out now, not at the consumer's
    // first read: it then travels while the response headers are made (a Range request's first byte
    // comes sooner). Its bytes still flow only when read, so backpressure is unchanged.
    const first = pieces[0]?.kind === 'bytes' ? pieces[1] : pieces[0]
    if (first?.kind === 'segment') {
      const upstream = this.#request(first)
      // Settled by #startSegment, or discarded by _destroy; never an unheard rejection meanwhile.
      upstream.catch(noop)
      this.#early = { piece: first, upstream }
    }
  }

  get bytesOut(): number {
    return this.#pushed - this.readableLength
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
    this.#abort.abort(error ?? STREAM_CLOSED)
    this.#early?.upstream.then(discard, noop)
    this.#early = null
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
      // The prefix (the header) waits until the segment after it is open: a segment that cannot even be
      // opened (a file gone or refused) is then an error before the first byte, which HTTP can still
      // answer as JSON.
      const following = this.#pieces[this.#next]
      if (this.#next === 1 && following?.kind === 'segment') {
        this.#next++
        this.#startSegment(following, piece.bytes)
        return
      }
      if (!this.#emit(piece.bytes)) return
    }
  }

  /** push(), counting the bytes for bytesOut. */
  #emit(bytes: Buffer): boolean {
    this.#pushed += bytes.length
    return this.push(bytes)
  }

  #startSegment(piece: Extract<Piece, { kind: 'segment' }>, lead: Buffer | null = null): void {
    this.#opening = true
    const early = this.#early?.piece === piece ? this.#early.upstream : null
    this.#early = null
    const opened = early ?? this.#request(piece)
    opened.then(
      (upstream) => {
        this.#opening = false
        if (this.destroyed) return discard(upstream)
        if (lead !== null) this.#emit(lead)
        this.#attach(upstream, piece)
      },
      (error: unknown) => {
        this.#opening = false
        if (!this.destroyed) this.destroy(error instanceof Error ? error : new Error(String(error)))
      }
    )
  }

  /** Opens a segment's bytes; new Promise() also turns a synchronous throw of `open` into a rejection. */
  #request(piece: Extract<Piece, { kind: 'segment' }>): Promise<Upstream> {
    return new Promise<Upstream>((resolve) => resolve(this.#open(piece.index, piece.range, this.#abort.signal)))
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
    const wantsMore = this.#emit(used)
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
  return reason instanceof Error ? reason : new Error('virtual file stream aborted')
}

/**
 * The bytes [range.start, range.end] (inclusive, VIRTUAL offsets) of the virtual file as one Readable.
 * Segments are opened one after another, when the consumer wants their bytes; only the first one is
 * asked for at once, so that its answer is on its way while the consumer gets ready. A segment that
 * delivers fewer bytes than expected, or fails, destroys the stream with an error; destroying the
 * stream (or aborting `signal`) aborts the signal given to `open` and destroys the open upstream.
 */
export function streamVirtualFile(v: VirtualFile, range: ByteRange, open: OpenSegment, signal?: AbortSignal): VirtualFileReadable {
  return new VirtualFileStream(piecesFor(v, range.start, range.end), open, signal)
}
