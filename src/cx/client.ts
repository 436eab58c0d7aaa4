import { createHash } from 'node:crypto'
import { Agent, type Dispatcher } from 'undici'
import type { CxConfig } from '../config.js'
import { UpstreamError } from '../errors.js'
import { CxAuthError } from '../errors.js'
import { cxRequest, excerpt, type CxResponse } from './http.js'
import { KeycloakTokenSource, staticToken, type TokenSource } from './token.js'
import type { CimMessage, PushOutcome, TimeWindow, VoiceActivity } from './types.js'

export interface CxClientOptions {
  /** CX_BASE_URL without a trailing slash, e.g. https://cx.example.com/conversation-manager */
  readonly baseUrl: string
  readonly tokens: TokenSource
  readonly timeoutMs: number
  readonly dispatcher: Dispatcher
  /** Items per voice-activities page. */
  readonly pageSize?: number
  /** CX_MAX_PAGES_PER_WINDOW: a window needing more pages fails instead of being read forever. Default 200. */
  readonly maxPagesPerWindow?: number
  /** Close the dispatcher with the client (true when the client created it). */
  readonly ownsDispatcher?: boolean
}

/**
 * The CX adapter: the only module that knows CX's URLs and answers. A deployment whose CX differs
 * from the modelled contract changes this file (and its simulator), nothing else.
 */
export class CxClient {
  readonly #o: CxClientOptions
  readonly #pageSize: number
  readonly #maxPages: number

  constructor(options: CxClientOptions) {
    this.#o = options
    this.#pageSize = options.pageSize ?? 500
    this.#maxPages = options.maxPagesPerWindow ?? 200
  }

  /**
   * All voice activities of a window, page by page. Pages are numbered from 0. Any failure throws:
   * a window that cannot be read completely must not advance the cursor.
   *
   * A broken pager must not keep a run reading forever (or growing without bound): a page identical to
   * an earlier one of the window means CX ignores `?page=`, and a window needing more than
   * CX_MAX_PAGES_PER_WINDOW pages is refused; both fail the window.
   */
  async *voiceActivities(window: TimeWindow, signal?: AbortSignal): AsyncGenerator<VoiceActivity[]> {
    const startTime = new Date(window.start).toISOString()
    const endTime = new Date(window.end).toISOString()
    let seen = 0
    // A digest per page (20 bytes each, at most CX_MAX_PAGES_PER_WINDOW of them) tells a repeat.
    const digests = new Map<string, number>()
    for (let page = 0; ; page++) {
      if (page >= this.#maxPages) {
        throw new UpstreamError(
          'CX',
          `voice activities of ${startTime}..${endTime} did not end within CX_MAX_PAGES_PER_WINDOW=${this.#maxPages} pages ` +
            `(${seen} activities read); raise it, or shorten PUSH_MAX_WINDOW_S`
        )
      }
      const qs = new URLSearchParams({ startTime, endTime, page: String(page), pageSize: String(this.#pageSize) })
      const res = await this.#authorized('GET', `/voice-activities?${qs.toString()}`, undefined, signal)
      if (res.status === 401 || res.status === 403) throw new CxAuthError(`CX refused our token for voice activities (${res.status})`)
      if (res.status < 200 || res.status > 299) {
        throw new UpstreamError('CX', `voice activities page ${page} answered ${res.status}: ${excerpt(res.text, 200)}`)
      }
      const { items, total, pageSize } = parsePage(res.text, page, this.#pageSize)
      if (items.length > 0) {
        const digest = createHash('sha1').update(JSON.stringify(items)).digest('base64')
        const earlier = digests.get(digest)
        if (earlier !== undefined) {
          throw new UpstreamError('CX', `voice activities page ${page} repeats page ${earlier} of the window ${startTime}..${endTime}: CX ignores ?page=`)
        }
        digests.set(digest, page)
      }
      seen += items.length
      if (items.length > 0) yield items
      // CX may cap pageSize below what we asked: `total` says when we are done; without it, a short page does.
      if (items.length === 0 || seen >= total || (total === Number.POSITIVE_INFINITY && items.length < pageSize)) return
    }
  }

  /** Sends one message. Only CxAuthError (or the caller's abort) is thrown: the run cannot go on without a token. */
  async postActivity(message: CimMessage, signal?: AbortSignal): Promise<PushOutcome> {
    let res: CxResponse
    try {
      res = await this.#authorized('POST', '/activities', JSON.stringify(message), signal)
    } catch (err) {
      if (signal?.aborted) throw err
      if (err instanceof CxAuthError) throw err
      return { kind: 'retry', reason: (err as Error).message }
    }
    const { status } = res
    if (status >= 200 && status <= 299) return { kind: 'accepted' }
    if (status === 401 || status === 403) throw new CxAuthError(`CX refused our token for activities (${status})`)
    // 408 and 429 say "not now", not "this message is wrong".
    if (status >= 400 && status <= 499 && status !== 408 && status !== 429) {
      return { kind: 'rejected', status, reason: `CX answered ${status}: ${excerpt(res.text)}` }
    }
    return { kind: 'retry', reason: `CX answered ${status}: ${excerpt(res.text, 200)}` }
  }

  async close(): Promise<void> {
    if (this.#o.ownsDispatcher) await this.#o.dispatcher.close()
  }

  /** A request with the bearer token; on a 401 a refreshable token is fetched again and the request repeated once. */
  async #authorized(method: 'GET' | 'POST', path: string, body: string | undefined, signal?: AbortSignal): Promise<CxResponse> {
    const { tokens, baseUrl, timeoutMs, dispatcher } = this.#o
    for (let attempt = 0; ; attempt++) {
      const token = await tokens.get(signal)
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' }
      if (body !== undefined) headers['content-type'] = 'application/json'
      const res = await cxRequest(dispatcher, { method, url: `${baseUrl}${path}`, headers, body, timeoutMs, signal })
      if (res.status !== 401 || attempt > 0 || !tokens.invalidate(token)) return res
    }
  }
}

function parsePage(text: string, page: number, asked: number): { items: VoiceActivity[]; total: number; pageSize: number } {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new UpstreamError('CX', `voice activities page ${page} is not JSON`)
  }
  const { items, total, pageSize } = (body ?? {}) as { items?: unknown; total?: unknown; pageSize?: unknown }
  if (!Array.isArray(items)) throw new UpstreamError('CX', `voice activities page ${page} has no items array`)
  return {
    items: items.map(toVoiceActivity),
    total: typeof total === 'number' && Number.isFinite(total) ? total : Number.POSITIVE_INFINITY,
    pageSize: typeof pageSize === 'number' && pageSize > 0 ? Math.min(pageSize, asked) : asked
  }
}

/** Shape only; values are judged by the push job, which records a leg it cannot link as failed. */
function toVoiceActivity(raw: unknown): VoiceActivity {
  const o = (raw !== null && typeof raw === 'object' ? raw : {}) as Record<string, unknown>
  const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '')
  const optional = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null)
  return {
    conversationId: optional(o.conversationId),
    channelSessionId: optional(o.channelSessionId),
    dialogId: text(o.dialogId),
    agentExtension: text(o.agentExtension),
    ani: text(o.ani),
    legStartTime: text(o.legStartTime),
    legEndTime: optional(o.legEndTime)
  }
}

/** The client the service uses, built from the CX configuration (loadConfig has checked it is complete). */
export function createCxClient(cx: CxConfig, dispatcher?: Dispatcher): CxClient {
  const own = dispatcher === undefined
  const agent =
    dispatcher ??
    new Agent({
      connections: cx.concurrency + 2,
      headersTimeout: cx.timeoutMs,
      bodyTimeout: cx.timeoutMs,
      connectTimeout: Math.min(cx.timeoutMs, 10_000)
    })
  const { auth } = cx
  const tokens: TokenSource =
    auth.kind === 'static'
      ? staticToken(auth.token)
      : new KeycloakTokenSource({
          tokenUrl: auth.tokenUrl,
          clientId: auth.clientId,
          clientSecret: auth.clientSecret,
          username: auth.username,
          password: auth.password,
          timeoutMs: cx.timeoutMs,
          dispatcher: agent
        })
  return new CxClient({
    baseUrl: cx.baseUrl,
    tokens,
    timeoutMs: cx.timeoutMs,
    dispatcher: agent,
    ownsDispatcher: own,
    maxPagesPerWindow: cx.maxPagesPerWindow
  })
}
