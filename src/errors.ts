import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'

/*
 * Every error a client can see, declared once, each with its code (GW_ERR_*, the way Fastify names its
 * own FST_ERR_*) and its one status. The error handler (plugins/errors.ts) turns a thrown one into
 * `{ statusCode, code, error, message }`; answers sent without throwing build the same body with
 * errorBodyOf. Messages are formatted with util.format: `%s` placeholders take the constructor arguments.
 *
 * Upstream faults, one status per meaning:
 *   502  the upstream answered, but wrongly (an error status, something unusable);
 *   503  it cannot be reached or says it is down (with Retry-After);
 *   504  it did not answer in time.
 */

// 4xx: the request
export const BadLegIdError = createError('GW_ERR_BAD_LEG_ID', 'Invalid legId: %s', 400)
export const BadBackfillError = createError('GW_ERR_BAD_BACKFILL', '%s', 400)
export const UnauthorizedError = createError('GW_ERR_UNAUTHORIZED', '%s', 401)
export const ForbiddenError = createError('GW_ERR_FORBIDDEN', '%s', 403)
export const LegNotFoundError = createError('GW_ERR_LEG_NOT_FOUND', '%s', 404)
export const RouteNotFoundError = createError('GW_ERR_ROUTE_NOT_FOUND', 'Route %s %s not found', 404)
export const NoPushRunError = createError('GW_ERR_NO_PUSH_RUN', 'No push run has happened yet', 404)
export const PushDisabledError = createError('GW_ERR_PUSH_DISABLED', 'Pushing to CX is disabled: CX_BASE_URL is not set', 409)
export const PushNotLeaderError = createError(
  'GW_ERR_PUSH_NOT_LEADER',
  'Another instance is running the push job; try again when it has finished',
  409
)
export const PushRunInProgressError = createError(
  'GW_ERR_PUSH_RUN_IN_PROGRESS',
  'A push run is already in progress (%s); try again when it has finished',
  409
)
export const RangeNotSatisfiableError = createError(
  'GW_ERR_RANGE_NOT_SATISFIABLE',
  'Range %s cannot be satisfied: the recording is %s bytes long',
  416
)
export const RateLimitedError = createError('GW_ERR_RATE_LIMITED', 'Too many requests from this client: at most %s per %s; retry in %s', 429)
/**
 * The reason a request's upstream work is aborted when its client hangs up. Status 499 (nginx's
 * "client closed request") keeps it out of the 5xx error log: nobody is left to receive an answer,
 * and nothing failed on our side.
 */
export const ClientClosedError = createError(
  'GW_ERR_CLIENT_CLOSED',
  'the client closed the connection before the answer was complete',
  499
)

// 5xx: the vendor, CX, or this gateway
/** The vendor answered, but with an error or with something we cannot use. */
export const UpstreamError = createError('GW_ERR_UPSTREAM', 'Upstream %s: %s', 502)
/** A stored file is not a WAV we can read. */
export const BadWavError = createError('GW_ERR_BAD_WAV', 'Upstream %s returned an unreadable WAV: %s', 502)
/** A stored file starts like an MP3 (ID3 tag or frame sync) but is not one we can serve. */
export const BadMp3Error = createError('GW_ERR_BAD_MP3', 'Upstream %s returned an unreadable MP3: %s', 502)
/** Segments of one leg cannot be joined by copying bytes. */
export const FormatMismatchError = createError(
  'GW_ERR_FORMAT_MISMATCH',
  'Segments of this leg have different audio formats and cannot be concatenated: %s vs %s',
  502
)
/** A leg split into more parts than MAX_SEGMENTS_PER_LEG: refused before any part is asked for. */
export const TooManySegmentsError = createError('GW_ERR_TOO_MANY_SEGMENTS', 'Upstream %s: %s', 502)
/** A size the upstream reported that no recording can have (unsafe integer, or over MAX_RECORDING_BYTES). */
export const RecordingTooLargeError = createError('GW_ERR_RECORDING_TOO_LARGE', 'Upstream %s: %s', 502)
/**
 * The vendor's service cannot be connected to at all (refused, no route, unknown host). The push job
 * reads it as "the whole vendor is down" and stops the run instead of parking every call of the window
 * as pending.
 */
export const UpstreamUnreachableError = createError('GW_ERR_UPSTREAM_UNREACHABLE', 'Upstream %s: %s', 503)
/** The vendor (or its database, or CX) cannot be reached or says it is down right now; try again later. */
export const UpstreamUnavailableError = createError('GW_ERR_UPSTREAM_UNAVAILABLE', 'Upstream %s unavailable: %s', 503)
/**
 * CX will not let us in: the token endpoint failed or refused us, or CX refused a fresh token. Unlike a
 * failed message this concerns every message of the run, so the run stops (status failed, cursor kept).
 */
export const CxAuthError = createError('GW_ERR_CX_AUTH', 'CX authentication failed: %s', 503)
/** The state database could not be asked who runs the push job. */
export const PushLockUnavailableError = createError('GW_ERR_PUSH_LOCK_UNAVAILABLE', '%s', 503)
/** This process is over its event-loop, heap or RSS limit (MAX_* settings). */
export const OverloadedError = createError('GW_ERR_OVERLOADED', 'The gateway is overloaded; retry later', 503)
/** MAX_CONCURRENT_STREAMS recordings are being served already, or file descriptors are short. */
export const TooManyStreamsError = createError('GW_ERR_TOO_MANY_STREAMS', '%s', 503)
/** The vendor did not answer in time. */
export const UpstreamTimeoutError = createError('GW_ERR_UPSTREAM_TIMEOUT', 'Upstream %s timed out: %s', 504)

/** True when the vendor as a whole is down, not just one look-up failing. */
export function isVendorDown(err: unknown): boolean {
  return err instanceof UpstreamUnavailableError || err instanceof UpstreamUnreachableError
}

/**
 * The code an error carries: ours (GW_ERR_*), undici's (UND_ERR_*), Node's (ECONNREFUSED…), a SQLSTATE.
 * Looks through `cause` when the error itself has none: undici wraps a connect failure's system error.
 */
export function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** How long a client should wait before retrying a 503 (upstream or this service overloaded). */
export const RETRY_AFTER_S = 5

/** What every error response looks like. */
export interface ErrorBody {
  statusCode: number
  code?: string
  error: string
  message: string
}

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' }
  }
} as const

/** The parts of a thrown error the answer is made from (a FastifyError has them all). */
export interface ThrownError {
  readonly code?: string | undefined
  readonly statusCode?: number | undefined
  readonly validation?: unknown
  readonly message: string
}

function statusOf(err: ThrownError): number {
  if (err.validation !== undefined) return 400
  const s = err.statusCode
  return typeof s === 'number' && s >= 400 && s <= 599 ? s : 500
}

/**
 * The answer to an error: `{ statusCode, code, error, message }`, keys in the schema's order. Messages
 * of our own named errors (and Fastify's 4xx) are written for clients; anything else is a bug whose
 * message may expose internals, so the client gets a generic message (the log has the whole error).
 */
export function errorBodyOf(err: ThrownError): ErrorBody {
  const statusCode = statusOf(err)
  const known = statusCode < 500 || (typeof err.code === 'string' && err.code.startsWith('GW_ERR_'))
  return {
    statusCode,
    ...(typeof err.code === 'string' && known ? { code: err.code } : {}),
    error: STATUS_CODES[statusCode] ?? 'Error',
    message: known ? err.message : 'An unexpected error occurred; it has been logged.'
  }
}
