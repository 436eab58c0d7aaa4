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
/** A stored recording is in an audio format this gateway cannot serve (yet): never disguised as a WAV. */
export const UnsupportedFormatError = createError('GW_ERR_UNSUPPORTED_FORMAT', 'Recording %s is %s, which this gateway does not serve', 415)
/** A stored file is not a WAV we can read. */
export const BadWavError = createError('GW_ERR_BAD_WAV', 'Upstream %s returned an unreadable WAV: %s', 502)
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
