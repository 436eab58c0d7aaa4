import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'

/*
 * Every error a client can see, as a named code (the fastify way: FST_ERR_*). Fastify's default
 * error handler turns these into `{ statusCode, code, error, message }`.
 * Messages are formatted with util.format: `%s` placeholders take the constructor arguments.
 */

export const BadLegIdError = createError('GW_ERR_BAD_LEG_ID', 'Invalid legId: %s', 400)
export const LegNotFoundError = createError('GW_ERR_LEG_NOT_FOUND', '%s', 404)
export const RangeNotSatisfiableError = createError(
  'GW_ERR_RANGE_NOT_SATISFIABLE',
  'Range %s cannot be satisfied: the recording is %s bytes long',
  416
)
/** The vendor answered, but with an error or with something we cannot use. */
export const UpstreamError = createError('GW_ERR_UPSTREAM', 'Upstream %s: %s', 502)
/**
 * The vendor's service cannot be connected to at all (refused, no route, unknown host). Still a 502 to
 * clients, like any other upstream failure, but the push job reads it as "the whole vendor is down"
 * and stops the run instead of parking every call of the window as pending.
 */
export const UpstreamUnreachableError = createError('GW_ERR_UPSTREAM_UNREACHABLE', 'Upstream %s: %s', 502)
/** The vendor did not answer in time. */
export const UpstreamTimeoutError = createError('GW_ERR_UPSTREAM_TIMEOUT', 'Upstream %s timed out: %s', 504)
/** The vendor (or its database) cannot be reached at all right now; try again later. */
export const UpstreamUnavailableError = createError('GW_ERR_UPSTREAM_UNAVAILABLE', 'Upstream %s unavailable: %s', 503)
/** Segments of one leg cannot be joined by copying bytes. */
export const FormatMismatchError = createError(
  'GW_ERR_FORMAT_MISMATCH',
  'Segments of this leg have different audio formats and cannot be concatenated: %s vs %s',
  502
)
/** A stored file is not a WAV we can read. */
export const BadWavError = createError('GW_ERR_BAD_WAV', 'Upstream %s returned an unreadable WAV: %s', 502)
/** A leg split into more parts than MAX_SEGMENTS_PER_LEG: refused before any part is asked for. */
export const TooManySegmentsError = createError('GW_ERR_TOO_MANY_SEGMENTS', 'Upstream %s: %s', 502)
/** A size the upstream reported that no recording can have (unsafe integer, or over MAX_RECORDING_BYTES). */
export const RecordingTooLargeError = createError('GW_ERR_RECORDING_TOO_LARGE', 'Upstream %s: %s', 502)
/** MAX_CONCURRENT_STREAMS recordings are being served already (or file descriptors ran short). */
export const OverloadedError = createError('GW_ERR_OVERLOADED', '%s', 503)
export const UnauthorizedError = createError('GW_ERR_UNAUTHORIZED', '%s', 401)
export const ForbiddenError = createError('GW_ERR_FORBIDDEN', '%s', 403)

/** True when the vendor as a whole is down, not just one look-up failing. */
export function isVendorDown(err: unknown): boolean {
  return err instanceof UpstreamUnavailableError || err instanceof UpstreamUnreachableError
}

/** True for errors that mean "try again later" rather than "this input is wrong". */
export function isTransient(err: unknown): boolean {
  return (
    err instanceof UpstreamError ||
    err instanceof UpstreamUnreachableError ||
    err instanceof UpstreamTimeoutError ||
    err instanceof UpstreamUnavailableError
  )
}

/**
 * The reason a request's upstream work is aborted when its client hangs up. Status 499 (nginx's
 * "client closed request") keeps it out of the 5xx error log: nobody is left to receive an answer,
 * and nothing failed on our side.
 */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError'
  readonly statusCode = 499
  readonly code = 'GW_CLIENT_CLOSED'

  constructor() {
    super('the client closed the connection before the answer was complete')
  }
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
 * The answer to a thrown error: `{ statusCode, code, error, message }`. Messages of our own named
 * errors (and Fastify's 4xx) are written for clients; anything else is a bug whose message may expose
 * internals, so the client gets a generic message (the log has the whole error).
 */
export function errorBodyOf(err: ThrownError): ErrorBody {
  const statusCode = statusOf(err)
  const known = statusCode < 500 || (typeof err.code === 'string' && err.code.startsWith('GW_ERR_'))
  const body: ErrorBody = {
    statusCode,
    error: STATUS_CODES[statusCode] ?? 'Error',
    message: known ? err.message : 'An unexpected error occurred; it has been logged.'
  }
  if (typeof err.code === 'string' && known) body.code = err.code
  return body
}
