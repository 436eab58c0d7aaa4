import { Pool, type Dispatcher } from 'undici'
import { UpstreamError } from '../../../errors.js'
import { raceAbort } from '../../../race-abort.js'
import { BodyTooLargeError, readBounded } from '../../../http/read-bounded.js'
import { eleveoFailure, eleveoStatusError } from '../failure.js'
import { parseServletReply } from './xml-reply.js'

export interface CallrecServletsOptions {
  /** e.g. `http://callrec.example:8080`; the servlets live under `/callrec/`. */
  readonly baseUrl: string
  readonly username: string
  readonly password: string
  /** Connect, headers and body-idle timeout of every request. */
  readonly timeoutMs: number
  /** Upper bound of sockets to CallREC: every streaming listener holds one while its audio flows. */
  readonly connections?: number
}

/** An answer of a servlet, or the news that the session it was asked under is no longer valid. */
type Attempt<T> = { readonly value: T } | { readonly expired: string }

/** XML replies are a few hundred bytes; anything larger is not one. */
const MAX_REPLY_BYTES = 64 * 1024
const REDIRECTS = new Set([301, 302, 303, 307, 308])

type Headers = Dispatcher.ResponseData['headers']

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * CallREC's servlets behind one session: log in once (`loginservlet`), use the session for every
 * token, and when CallREC says it expired (an `<error>` reply, a 401, or a redirect to its login page:
 * versions differ) log in again once and repeat the request once. Concurrent callers that find the
 * session expired share one login. Every audio request gets its own download token, since a token may
 * be good for one download only.
 *
 * Secrets: the password travels in the login URL's query (CallREC's design), the session id in every
 * path and the token in the audio URL's query. No URL is ever put into an error or handed to a logger,
 * and text CallREC sends back is scrubbed of all three before it goes into an error message.
 */
export class CallrecServlets {
  readonly #pool: Pool
  readonly #basePath: string
  readonly #opts: CallrecServletsOptions
  #session: string | null = null
  #login: Promise<string> | null = null

  constructor(opts: CallrecServletsOptions) {
    const url = new URL(opts.baseUrl)
    this.#opts = opts
    this.#basePath = url.pathname.replace(/\/+$/, '')
    this.#pool = new Pool(url.origin, {
      connections: opts.connections ?? 256,
      connect: { timeout: opts.timeoutMs },
      headersTimeout: opts.timeoutMs,
      // Idle time between body chunks; time paused by a slow listener's backpressure does not count.
      bodyTimeout: opts.timeoutMs
    })
  }

  /**
   * The answer to `sendcallfile.mp3` for one couple (any status but an expiry), with a `Range` header
   * when given. The caller reads or releases the body.
   */
  async audio(sid: string, range: string | undefined, what: string, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    return this.#withSession(async (session) => {
      const token = await this.#token(session, sid, what, signal)
      if ('expired' in token) return token
      const path = `/callrec/sendcallfile.mp3;jsessionid=${encodeURIComponent(session)}?token=${encodeURIComponent(token.value)}`
      const res = await this.#get(path, what, signal, range === undefined ? {} : { range })
      const expired = expiry(res)
      if (expired !== null) {
        await discard(res)
        return { expired }
      }
      if (isXml(res)) {
        // An XML document instead of audio: CallREC's way of refusing the token or the session.
        const reply = parseServletReply(await this.#readSmall(res, what, signal))
        if (reply.kind === 'error') return { expired: this.#describeError(reply, [session, token.value]) }
        throw new UpstreamError('eleveo', `${what}: sendcallfile answered an XML document instead of audio`)
      }
      return { value: res }
    }, what, signal)
  }

  /** Proves the servlets answer and the credentials are accepted (logs in when there is no session). */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.#currentSession('reachability check', signal)
  }

  async close(): Promise<void> {
    await this.#pool.close()
  }

  async #withSession<T>(attempt: (session: string) => Promise<Attempt<T>>, what: string, signal?: AbortSignal): Promise<T> {
    const first = await this.#currentSession(what, signal)
    const once = await attempt(first)
    if ('value' in once) return once.value
    if (this.#session === first) this.#session = null
    const again = await attempt(await this.#currentSession(what, signal))
    if ('value' in again) return again.value
    throw new UpstreamError('eleveo', `${what}: CallREC refused it again after a fresh login (${again.expired})`)
  }

  /** The session to use: the current one, or the result of the login in flight (started if none is). */
  async #currentSession(what: string, signal?: AbortSignal): Promise<string> {
    if (this.#session !== null) return this.#session
    if (this.#login === null) {
      // Not tied to the first caller's signal: others wait for the same login, and it is bounded by
      // the pool's timeouts anyway.
      const login = this.#logIn(what).then((session) => {
        this.#session = session
        return session
      })
      this.#login = login
      void login.then(
        () => (this.#login = null),
        () => (this.#login = null)
      )
    }
    return signal === undefined ? this.#login : raceAbort(this.#login, signal)
  }

  async #logIn(what: string): Promise<string> {
    const { username, password } = this.#opts
    const path = `/callrec/loginservlet?loginname=${encodeURIComponent(username)}&password=${encodeURIComponent(password)}`
    const res = await this.#get(path, `${what}: login`, undefined)
    if (res.statusCode !== 200) {
      await discard(res)
      throw eleveoStatusError(`${what}: login`, res.statusCode)
    }
    const reply = parseServletReply(await this.#readSmall(res, `${what}: login`))
    if (reply.kind === 'ok') return reply.sessionId
    if (reply.kind === 'error') {
      throw new UpstreamError('eleveo', `${what}: CallREC refused the login of ${JSON.stringify(username)} (${this.#describeError(reply)}); check ELEVEO_USERNAME / ELEVEO_PASSWORD`)
    }
    throw new UpstreamError('eleveo', `${what}: loginservlet answered something that is not a CallREC reply`)
  }

  async #token(session: string, sid: string, what: string, signal?: AbortSignal): Promise<Attempt<string>> {
    const path = `/callrec/downloadtoken;jsessionid=${encodeURIComponent(session)}?sid=${encodeURIComponent(sid)}&type=1&action=download`
    const res = await this.#get(path, `${what}: download token`, signal)
    const expired = expiry(res)
    if (expired !== null) {
      await discard(res)
      return { expired }
    }
    if (res.statusCode !== 200) {
      await discard(res)
      throw eleveoStatusError(`${what}: download token`, res.statusCode)
    }
    const reply = parseServletReply(await this.#readSmall(res, `${what}: download token`, signal))
    if (reply.kind === 'reply') return { value: reply.value }
    // CallREC answers an expired session and an unknown couple alike; a second refusal under a fresh
    // session (see #withSession) tells them apart.
    if (reply.kind === 'error') return { expired: this.#describeError(reply, [session]) }
    throw new UpstreamError('eleveo', `${what}: downloadtoken answered something that is not a CallREC reply`)
  }

  #describeError(reply: { code: string; message: string }, secrets: readonly string[] = []): string {
    const scrub = (text: string): string => {
      // Text from CallREC may echo what it was sent; none of our secrets may travel on in an error.
      let out = text
      for (const secret of [this.#opts.password, ...secrets]) if (secret.length > 0) out = out.split(secret).join('***')
      return out
    }
    return `error ${scrub(reply.code) || '(no code)'}: ${scrub(reply.message).slice(0, 200) || '(no message)'}`
  }

  async #get(path: string, what: string, signal: AbortSignal | undefined, headers: Record<string, string> = {}): Promise<Dispatcher.ResponseData> {
    try {
      return await this.#pool.request({ method: 'GET', path: this.#basePath + path, headers, signal })
    } catch (err) {
      throw eleveoFailure(err, what, this.#opts.timeoutMs, signal)
    }
  }

  async #readSmall(res: Dispatcher.ResponseData, what: string, signal?: AbortSignal): Promise<string> {
    try {
      return (await readBounded(res.body, MAX_REPLY_BYTES, res.headers['content-length'])).toString('utf8')
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw new UpstreamError('eleveo', `${what}: the reply is larger than ${MAX_REPLY_BYTES} bytes`)
      throw eleveoFailure(err, what, this.#opts.timeoutMs, signal)
    }
  }
}

const ignore = (): void => {}

/** Why the answer says the session is gone, or null. The Location is not quoted: it may hold a session id. */
function expiry(res: Dispatcher.ResponseData): string | null {
  if (res.statusCode === 401) return 'HTTP 401'
  if (REDIRECTS.has(res.statusCode)) {
    if (/login/i.test(header(res.headers, 'location') ?? '')) return `HTTP ${res.statusCode} to the login page`
    return null
  }
  return null
}

function isXml(res: Dispatcher.ResponseData): boolean {
  return /\bxml\b/i.test(header(res.headers, 'content-type') ?? '')
}

/** Error bodies are read and dropped (bounded) so the socket can be reused. */
async function discard(res: Dispatcher.ResponseData): Promise<void> {
  await res.body.dump({ limit: 64 * 1024 }).catch(ignore)
}
