import type { Readable } from 'node:stream'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import { mergeHoldLegs } from './merge-hold.js'
import { sliceStream } from '../../http/byte-slice.js'
import { BodyTooLargeError, readBounded } from '../../http/read-bounded.js'
import { parseContentRange } from '../../http/range.js'
import type { ByteRange, SegmentInfo, SegmentRef, VendorLeg } from '../../recording.js'
import type { MatchPolicy, RecordingProvider } from '../types.js'
import { TimedAbort } from '../../http/timed-abort.js'
import { ConnectionSlots } from './connection-slots.js'
import { eleveoBusyError, eleveoContractError, eleveoDeadlineError, eleveoFailure, eleveoStatusError } from './failure.js'
import { EleveoContractError, parseLegsResponse } from './legs-response.js'

export interface EleveoOptions {
  /** e.g. `https://eleveo.example.com` or with a path prefix, `https://gw.example.com/eleveo`. */
  readonly baseUrl: string
  readonly username: string | null
  readonly password: string | null
  /**
   * Connect, headers and body-idle timeout of every request; also the longest wait for a free connection
   * (then 503), and the total deadline of a listing or header read (then 504): a trickling answer never
   * trips an idle timeout.
   */
  readonly timeoutMs: number
  /**
   * Upper bound of sockets to Eleveo. Every streaming client holds one while its audio flows, so this
   * must exceed the expected number of simultaneous listeners; requests beyond it wait for a socket.
   */
  readonly connections?: number
}

/** A listing is a few hundred bytes per leg; anything this large is not a listing. */
const MAX_LISTING_BYTES = 4 * 1024 * 1024
const DEFAULT_CONNECTIONS = 256
/** Eleveo cannot be asked whether it is up without asking about a call; any answer but 5xx/401/403 will do. */
export const PING_DIALOG_ID = 'cx-recording-gateway-ping'

type Headers = Dispatcher.ResponseData['headers']

/** One request to Eleveo: its answer, and the signal to judge its failures by (aborted by the deadline or the caller). */
interface Exchange {
  readonly res: Dispatcher.ResponseData
  readonly signal: AbortSignal
}

/** `whole`: the deadline runs until the body is closed (listings, header reads); `headers`: until the answer starts (audio). */
type DeadlineScope = 'whole' | 'headers'

const ignore = (): void => {}

/**
 * Drops an answer's body without reading it. undici reports destroying an unfinished body as an 'error'
 * event; nobody else listens any more, and an unheard 'error' would crash the process.
 */
function release(res: Dispatcher.ResponseData): void {
  res.body.on('error', ignore)
  res.body.destroy()
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * The Eleveo recording API (contract in the GUIDE): one undici Pool to its origin with basic auth and
 * timeouts; listings validated strictly and HOLD-split legs merged; audio fetched with Range requests
 * so only the bytes a client needs cross the network.
 */
export class EleveoProvider implements RecordingProvider {
  readonly name = 'eleveo' as const
  /** Eleveo leg ids mean nothing to CX, so CX legs are paired with Eleveo legs by start time. */
  readonly matchPolicy: MatchPolicy = { requireSameIdentity: false, toleranceMs: null }

  readonly #pool: Pool
  readonly #basePath: string
  readonly #auth: string | null
  readonly #timeoutMs: number
  readonly #slots: ConnectionSlots

  constructor(opts: EleveoOptions) {
    const url = new URL(opts.baseUrl)
    this.#basePath = url.pathname.replace(/\/+$/, '')
    this.#timeoutMs = opts.timeoutMs
    this.#auth =
      opts.username === null
        ? null
        : `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`
    this.#slots = new ConnectionSlots(opts.connections ?? DEFAULT_CONNECTIONS)
    this.#pool = new Pool(url.origin, {
      connections: this.#slots.size,
      connect: { timeout: opts.timeoutMs },
      headersTimeout: opts.timeoutMs,
      // Idle time between body chunks; undici does not count time spent paused by backpressure, so a
      // slow listener does not trip it.
      bodyTimeout: opts.timeoutMs
    })
  }

  async findLegs(dialogId: string, signal?: AbortSignal): Promise<VendorLeg[]> {
    const what = `recordings of dialog ${dialogId}`
    const { res, signal: exchange } = await this.#get(`/api/recordings?dialogId=${encodeURIComponent(dialogId)}`, what, signal, 'whole')
    if (res.statusCode === 404) {
      await this.#discard(res)
      return []
    }
    if (res.statusCode !== 200) {
      await this.#discard(res)
      throw eleveoStatusError(what, res.statusCode)
    }
    const body = await this.#readText(res, what, exchange)
    try {
      return mergeHoldLegs(parseLegsResponse(body, dialogId), (leg) => ({ id: leg.id }))
    } catch (err) {
      if (err instanceof EleveoContractError) throw eleveoContractError(what, err.message)
      throw err
    }
  }

  async statSegment(segment: SegmentRef, headBytes: number, signal?: AbortSignal): Promise<SegmentInfo> {
    if (!Number.isSafeInteger(headBytes) || headBytes < 1) throw new RangeError(`invalid head length ${headBytes}`)
    const what = `audio of recording ${segment.id}`
    const { res, signal: exchange } = await this.#get(this.#audioPath(segment), what, signal, 'whole', `bytes=0-${headBytes - 1}`)
    if (res.statusCode === 206) {
      const cr = parseContentRange(header(res.headers, 'content-range'))
      if (cr === null || cr.start !== 0 || cr.size === null) {
        release(res)
        throw eleveoContractError(what, `206 with an unusable Content-Range ${JSON.stringify(header(res.headers, 'content-range'))}`)
      }
      // A server may answer with more than the probe asked for (up to the whole file): read only the
      // probe's worth, so memory stays bounded whatever the recording's length.
      const want = Math.min(cr.end + 1, headBytes)
      const head = await this.#readHead(res, want, what, exchange)
      if (head.length !== want) {
        throw eleveoContractError(what, `promised ${cr.end + 1} bytes, sent ${head.length}`)
      }
      return { size: cr.size, head }
    }
    if (res.statusCode === 200) {
      const size = Number(header(res.headers, 'content-length'))
      if (!Number.isSafeInteger(size) || size < 0) {
        release(res)
        throw eleveoContractError(what, 'the audio has no Content-Length, so its size is unknown')
      }
      const want = Math.min(size, headBytes)
      const head = await this.#readHead(res, want, what, exchange)
      if (head.length < want) throw eleveoContractError(what, `promised ${size} bytes, sent ${head.length}`)
      return { size, head }
    }
    if (res.statusCode === 416) {
      // Only an empty file cannot satisfy bytes=0-…; the WAV layer reports it as unreadable.
      const cr = parseContentRange(header(res.headers, 'content-range'))
      await this.#discard(res)
      if (cr !== null && cr.start === null && cr.size === 0) return { size: 0, head: Buffer.alloc(0) }
      throw eleveoStatusError(what, 416)
    }
    await this.#discard(res)
    throw eleveoStatusError(what, res.statusCode)
  }

  async openSegment(segment: SegmentRef, range: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const what = `audio of recording ${segment.id}`
    const length = range.end - range.start + 1
    const { res } = await this.#get(this.#audioPath(segment), what, signal, 'headers', `bytes=${range.start}-${range.end}`)
    if (res.statusCode === 206) {
      const cr = parseContentRange(header(res.headers, 'content-range'))
      if (cr === null || cr.start !== range.start || cr.end < range.end) {
        release(res)
        throw eleveoContractError(
          what,
          `asked for bytes ${range.start}-${range.end}, got Content-Range ${JSON.stringify(header(res.headers, 'content-range'))}`
        )
      }
      if (cr.end === range.end) return res.body
      // Servers may round a range up (to a block or cache-chunk boundary): our bytes come first, so
      // take them and drop the connection instead of reading on.
      return sliceStream(res.body, 0, length)
    }
    if (res.statusCode === 200) {
      // HTTP lets a server ignore Range; cut our bytes out of the whole file.
      const size = Number(header(res.headers, 'content-length'))
      if (Number.isSafeInteger(size) && size < range.end + 1) {
        release(res)
        throw eleveoContractError(what, `needed bytes up to ${range.end}, the file has ${size}`)
      }
      return sliceStream(res.body, range.start, length)
    }
    await this.#discard(res)
    throw eleveoStatusError(what, res.statusCode)
  }

  /** Eleveo's recording ids are safe to show: they are what its own API names the files by. */
  describeSegment(segment: SegmentRef): string {
    return segment.id
  }

  async ping(signal?: AbortSignal): Promise<void> {
    const what = 'reachability check'
    const { res } = await this.#get(`/api/recordings?dialogId=${PING_DIALOG_ID}`, what, signal, 'whole')
    await this.#discard(res)
    if (res.statusCode >= 500 || res.statusCode === 401 || res.statusCode === 403) {
      throw eleveoStatusError(what, res.statusCode)
    }
  }

  async close(): Promise<void> {
    await this.#pool.close()
  }

  #audioPath(segment: SegmentRef): string {
    return `/api/recordings/${encodeURIComponent(segment.id)}/audio`
  }

  /**
   * Waits (at most timeoutMs) for a free connection, then sends the request under a deadline of
   * timeoutMs covering the whole exchange or only its start (see DeadlineScope). The connection's slot
   * is given back when the answer's body closes, however it ends.
   */
  async #get(path: string, what: string, signal: AbortSignal | undefined, scope: DeadlineScope, range?: string): Promise<Exchange> {
    // The format follows the stored bytes (WAV or MP3), so audio requests accept either.
    const headers: Record<string, string> = { accept: range === undefined ? 'application/json' : 'audio/wav, audio/mpeg' }
    if (this.#auth !== null) headers.authorization = this.#auth
    if (range !== undefined) headers.range = range

    const freeSlot = (signal?.aborted !== true ? this.#slots.tryAcquire() : null) ?? (await this.#waitForSlot(what, signal))

    const deadline = new TimedAbort(signal, this.#timeoutMs, () => eleveoDeadlineError(what, this.#timeoutMs))
    let res: Dispatcher.ResponseData
    try {
      res = await this.#pool.request({ method: 'GET', path: this.#basePath + path, headers, signal: deadline.signal })
    } catch (err) {
      deadline.dispose()
      freeSlot()
      throw eleveoFailure(err, what, this.#timeoutMs, deadline.signal)
    }
    if (scope === 'headers') deadline.stopTimer()
    res.body.once('close', () => {
      deadline.dispose()
      freeSlot()
    })
    return { res, signal: deadline.signal }
  }

  /** Every socket is in use: waits at most timeoutMs for one to be given back (then 503). */
  async #waitForSlot(what: string, signal: AbortSignal | undefined): Promise<() => void> {
    const wait = new TimedAbort(signal, this.#timeoutMs, () => eleveoBusyError(what, this.#slots.size, this.#timeoutMs))
    try {
      return await this.#slots.acquire(wait.signal)
    } catch (err) {
      throw wait.expired ? (wait.signal.reason as Error) : eleveoFailure(err, what, this.#timeoutMs, signal)
    } finally {
      wait.dispose()
    }
  }

  /** Reads a small JSON answer whole, refusing anything implausibly large. */
  async #readText(res: Dispatcher.ResponseData, what: string, signal?: AbortSignal): Promise<string> {
    try {
      return (await readBounded(res.body, MAX_LISTING_BYTES, res.headers['content-length'])).toString('utf8')
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw eleveoContractError(what, `the listing is larger than ${MAX_LISTING_BYTES} bytes`)
      throw eleveoFailure(err, what, this.#timeoutMs, signal)
    }
  }

  /** The first `want` bytes of the body; the rest (if any) is not downloaded. */
  async #readHead(res: Dispatcher.ResponseData, want: number, what: string, signal?: AbortSignal): Promise<Buffer> {
    const chunks: Buffer[] = []
    let total = 0
    try {
      if (want > 0) {
        // Breaking out of for-await destroys the body, which aborts the rest of a whole-file answer.
        res.body.on('error', ignore)
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          chunks.push(chunk)
          total += chunk.length
          if (total >= want) break
        }
      } else {
        release(res)
      }
    } catch (err) {
      throw eleveoFailure(err, what, this.#timeoutMs, signal)
    }
    return Buffer.concat(chunks, total).subarray(0, want)
  }

  /** Error bodies are read and dropped (bounded) so the socket can be reused. */
  async #discard(res: Dispatcher.ResponseData): Promise<void> {
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined)
  }
}
