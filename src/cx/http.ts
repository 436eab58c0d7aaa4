import { request, type Dispatcher } from 'undici'
import { redactAccessParams } from '../auth/redact.js'
import { errorCode, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js'

export interface CxResponse {
  readonly status: number
  readonly text: string
}

export interface CxRequest {
  readonly method: 'GET' | 'POST'
  readonly url: string
  readonly headers: Record<string, string>
  readonly body?: string
  readonly timeoutMs: number
  readonly signal?: AbortSignal | undefined
}

/** CX answers are small JSON documents; anything bigger is a misrouted request, not data. */
const MAX_BODY_BYTES = 32 * 1024 * 1024

/**
 * One request to CX or its Keycloak with an overall deadline. The caller's abort wins and is rethrown
 * as is (the run was stopped); our own deadline becomes UpstreamTimeoutError; a connection failure
 * UpstreamUnavailableError. Errors never carry request headers or bodies: those hold the secrets.
 */
export async function cxRequest(dispatcher: Dispatcher, req: CxRequest): Promise<CxResponse> {
  const deadline = AbortSignal.timeout(req.timeoutMs)
  const signal = req.signal ? AbortSignal.any([req.signal, deadline]) : deadline
  const target = describe(req.url)
  try {
    const res = await request(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      dispatcher,
      signal
    })
    const declared = Number(res.headers['content-length'] ?? 0)
    if (declared > MAX_BODY_BYTES) {
      res.body.destroy()
      throw new UpstreamUnavailableError('CX', `${target} answered with ${declared} bytes`)
    }
    const text = await res.body.text()
    return { status: res.statusCode, text }
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason
    if (err instanceof UpstreamUnavailableError) throw err
    if (deadline.aborted || isUndiciTimeout(err)) {
      throw new UpstreamTimeoutError('CX', `${target} did not answer within ${req.timeoutMs} ms`)
    }
    throw new UpstreamUnavailableError('CX', `${target}: ${errorText(err)}`)
  }
}

function isUndiciTimeout(err: unknown): boolean {
  const code = errorCode(err)
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err)
    return code !== undefined ? `${code} ${err.message}` : err.message
  }
  return String(err)
}

/** How errors name the target: origin and path only (no user-info, no query), so they are safe to log. */
function describe(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname}`
  } catch {
    return 'CX'
  }
}

/**
 * A short, single-line excerpt of an upstream answer for logs and the failed list. An answer may quote
 * the signed link it refused: signatures are redacted.
 */
export function excerpt(text: string, max = 500): string {
  const flat = redactAccessParams(text.replace(/\s+/g, ' ').trim())
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}
