import postgres from 'postgres'
import { errorCode, UpstreamError, UpstreamUnavailableError } from '../errors.js'
import type { VendorName } from '../recording.js'

/*
 * SQLSTATE classes that mean "the database cannot serve us right now" (try again later) rather than
 * "the query is wrong": connection exceptions, insufficient resources, operator intervention (shutdown,
 * starting up, statement timeout), system errors, and authentication or a missing database, which are
 * how a database that is being provisioned or restored looks from outside.
 */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58', '28', '3D'])
/** Errors of the client itself, raised before or instead of a server answer. */
const CONNECTION_CODES = new Set([
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE'
])

/**
 * Maps what postgres.js threw to the client-facing error of a vendor database: 503 when the database
 * cannot serve now, 502 when it refused the query itself (`what` names the query, e.g. the setting
 * holding it). Messages never carry the connection URL: postgres.js errors do not contain it.
 */
export function postgresFailure(err: unknown, vendor: VendorName, what: string): Error {
  if (err instanceof postgres.PostgresError) {
    if (err.code === '57014') return new UpstreamUnavailableError(vendor, 'database query timed out')
    if (UNAVAILABLE_CLASSES.has(err.code.slice(0, 2))) {
      return new UpstreamUnavailableError(vendor, `database refused the query (SQLSTATE ${err.code}: ${err.message})`)
    }
    return new UpstreamError(vendor, `${what} failed (SQLSTATE ${err.code}: ${err.message})`)
  }
  const code = errorCode(err)
  if (code !== undefined && CONNECTION_CODES.has(code)) {
    return new UpstreamUnavailableError(vendor, `database not reachable (${code})`)
  }
  return err instanceof Error ? err : new Error(String(err))
}
