import type { Dispatcher } from 'undici'
import { redactAccessParams } from '../auth/redact.js'
import { errorCode, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js'
import { BodyTooLargeError, readBounded } from '../http/read-bounded.js'

export interface CxResponse {
  readonly status: number
  readonly text: string
}

export interface CxRequest {
  readonly method: 'GET' | 'POST'
  readonly url: string
  readonly headers: Record<string, string>
  readonly body?: string
  /** Deadline of the whole exchange, headers and body: a body trickling in never outlasts it. */
  readonly timeoutMs: number
  readonly signal?: AbortSignal | undefined
  /** Cap of the answer's body, counted while it is read. Default: MAX_CX_BODY_BYTES. */
  readonly maxBytes?: number
}

/** CX answers are small JSON documents (a page of 500 activities is ~200 KiB); anything far bigger is not data. */
export const MAX_CX_BODY_BYTES = 32 * 1024 * 1024

/**
 * One request to CX or its Keycloak with an overall deadline and a bounded body. The caller's abort
 * wins and is rethrown as is (the run was stopped); our own deadline becomes UpstreamTimeoutError; an
 * oversized answer UpstreamError; a connection failure UpstreamUnavailableError. Errors never carry
 * request headers or bodies: those hold the secrets.
 */
export async function cxRequest(dispatcher: Dispatcher, req: CxRequest): Promise<CxResponse> {
  // A timer we hold and clear, not AbortSignal.timeout: Node 20 may collect that signal while the
  // composite one still waits on it, and then the deadline never fires.
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(), req.timeoutMs)
  const signal = req.signal ? AbortSignal.any([req.signal, deadline.signal]) : deadline.signal
  const target = describe(req.url)
  const maxBytes = req.maxBytes ?? MAX_CX_BODY_BYTES
  try {
    const url = new URL(req.url)
    const res = await dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal
    })
    const body = await readBounded(res.body, maxBytes, res.headers['content-length'])
    return { status: res.statusCode, text: body.toString('utf8') }
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason
    if (err instanceof BodyTooLargeError) throw new UpstreamError('CX', `${target} answered more than ${maxBytes} bytes (${err.message})`)
    if (deadline.signal.aborted || isUndiciTimeout(err)) {
      throw new UpstreamTimeoutError('CX', `${target} did not answer within ${req.timeoutMs} ms`)
    }
    throw new UpstreamUnavailableError('CX', `${target}: ${errorText(err)}`)
  } finally {
    clearTimeout(timer)
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
