import type { Readable } from 'node:stream'
import type { ByteRange, SegmentInfo, SegmentRef, VendorLeg } from '../../../recording.js'
import type { MatchPolicy, RecordingProvider } from '../../types.js'
import { headFromAnswer, sliceFromAnswer } from '../audio-answer.js'
import { couplesFromRows } from './couple-rows.js'
import { CouplesLookup } from './couples-lookup.js'
import { LocalTimeZone } from './local-time.js'
import { mergeAdjacentCouples } from './merge-adjacent.js'
import { CallrecServlets } from './servlets.js'

export interface CallrecProviderOptions {
  /** ELEVEO_BASE_URL: where the servlets are (`…/callrec/loginservlet` etc.). */
  readonly baseUrl: string
  readonly username: string
  readonly password: string
  /** Servlet requests: connect, headers and body-idle timeout; database: the deadline of every query. */
  readonly timeoutMs: number
  readonly databaseUrl: string
  readonly legsQuery: string
  readonly dialogKey: string
  /** IANA zone of CallREC's timestamps. */
  readonly timeZone: string
  readonly holdMaxGapS: number
}

/**
 * Eleveo as CallREC installations expose it (GUIDE, "Eleveo CallREC"): a call's couples come from
 * CallREC's PostgreSQL, HOLD-split couples are joined by adjacency (CallREC records no end reason), and
 * each couple's MP3 comes from the servlets under one shared session. A segment id is a couple's sid.
 */
export class CallrecProvider implements RecordingProvider {
  readonly name = 'eleveo' as const
  /** Couples carry no id CX knows, so CX legs are paired with them by start time, as with the REST API. */
  readonly matchPolicy: MatchPolicy = { requireSameIdentity: false, toleranceMs: null }

  readonly #lookup: CouplesLookup
  readonly #servlets: CallrecServlets
  readonly #zone: LocalTimeZone
  readonly #maxGapMs: number
  readonly #timeoutMs: number

  constructor(opts: CallrecProviderOptions) {
    this.#zone = new LocalTimeZone(opts.timeZone)
    this.#maxGapMs = opts.holdMaxGapS * 1000
    this.#timeoutMs = opts.timeoutMs
    this.#lookup = new CouplesLookup({
      databaseUrl: opts.databaseUrl,
      legsQuery: opts.legsQuery,
      dialogKey: opts.dialogKey,
      deadlineMs: opts.timeoutMs
    })
    this.#servlets = new CallrecServlets({
      baseUrl: opts.baseUrl,
      username: opts.username,
      password: opts.password,
      timeoutMs: opts.timeoutMs
    })
  }

  async findLegs(dialogId: string, signal?: AbortSignal): Promise<VendorLeg[]> {
    const rows = await this.#lookup.couples(dialogId, signal)
    return mergeAdjacentCouples(couplesFromRows(rows, this.#zone), dialogId, this.#maxGapMs)
  }

  async statSegment(segment: SegmentRef, headBytes: number, signal?: AbortSignal): Promise<SegmentInfo> {
    if (!Number.isSafeInteger(headBytes) || headBytes < 1) throw new RangeError(`invalid head length ${headBytes}`)
    const what = `audio of couple ${segment.id}`
    const res = await this.#servlets.audio(segment.id, `bytes=0-${headBytes - 1}`, what, signal)
    return headFromAnswer(res, headBytes, what, this.#timeoutMs, signal)
  }

  async openSegment(segment: SegmentRef, range: ByteRange, signal?: AbortSignal): Promise<Readable> {
    if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
      throw new RangeError(`invalid byte range ${range.start}-${range.end}`)
    }
    const what = `audio of couple ${segment.id}`
    const res = await this.#servlets.audio(segment.id, `bytes=${range.start}-${range.end}`, what, signal)
    return sliceFromAnswer(res, range, what)
  }

  /** A couple's sid: CallREC's own name for it, nothing of ours. */
  describeSegment(segment: SegmentRef): string {
    return segment.id
  }

  /** Ready when the database answers and CallREC accepts the credentials (one login, then reused). */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.#lookup.ping(signal)
    await this.#servlets.ping(signal)
  }

  async close(): Promise<void> {
    await Promise.all([this.#lookup.close(), this.#servlets.close()])
  }
}
