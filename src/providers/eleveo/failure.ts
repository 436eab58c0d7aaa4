import { errorCode, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError, UpstreamUnreachableError } from '../../errors.js'

const VENDOR = 'eleveo'

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
const CUT_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'])

/**
 * Turns what undici threw while talking to Eleveo into the error a client should see, naming the
 * upstream and what we were doing (`what`). When the caller aborted, the abort reason is returned
 * unchanged: the client is gone and nothing should be reported as an upstream failure.
 */
export function eleveoFailure(err: unknown, what: string, timeoutMs: number, signal?: AbortSignal): Error {
  if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : (err as Error)
  const code = errorCode(err)
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new UpstreamTimeoutError(VENDOR, `${what}: no answer within ${timeoutMs} ms`, { cause: err })
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new UpstreamUnreachableError(VENDOR, `${what}: cannot connect (${code})`, { cause: err })
  }
  if (code !== undefined && CUT_CODES.has(code)) {
    return new UpstreamError(VENDOR, `${what}: the connection was cut before the answer was complete`, { cause: err })
  }
  const message = err instanceof Error ? err.message : String(err)
  return new UpstreamError(VENDOR, `${what}: ${message}`, { cause: err })
}

/** An answer with an unexpected status, as a 502 naming Eleveo and the status. */
export function eleveoStatusError(what: string, status: number): Error {
  const hint = status === 401 || status === 403 ? ' (check ELEVEO_USERNAME / ELEVEO_PASSWORD)' : ''
  return new UpstreamError(VENDOR, `${what}: answered HTTP ${status}${hint}`)
}

export function eleveoContractError(what: string, message: string): Error {
  return new UpstreamError(VENDOR, `${what}: ${message}`)
}

/** A listing or header read that was not complete within its total deadline (a trickling answer included). */
export function eleveoDeadlineError(what: string, timeoutMs: number): Error {
  return new UpstreamTimeoutError(VENDOR, `${what}: no complete answer within ${timeoutMs} ms`)
}

/** Every connection to Eleveo stayed in use for the whole wait: a 503, try again later. */
export function eleveoBusyError(what: string, connections: number, waitedMs: number): Error {
  return new UpstreamUnavailableError(VENDOR, `${what}: all ${connections} connections (ELEVEO_CONNECTIONS) stayed busy for ${waitedMs} ms`)
}
