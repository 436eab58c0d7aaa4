import postgres from 'postgres'
import { errorCode, UpstreamError, UpstreamUnavailableError } from '../../errors.js'

export interface PoolTuning {
  /** A lookup is one short query; a handful of connections serve many concurrent requests. */
  maxConnections: number
  connectTimeoutS: number
  /** Sent as the session's statement_timeout: a slow switch database must not hold requests for long. */
  statementTimeoutMs: number
  idleTimeoutS: number
}

export const DEFAULT_POOL_TUNING: PoolTuning = {
  maxConnections: 4,
  connectTimeoutS: 5,
  statementTimeoutMs: 5_000,
  idleTimeoutS: 60
}

export interface RecordPathLookupOptions {
  databaseUrl: string
  /** SQL with one parameter, `$1` = the dialogId; the first column of the first row is the directory. */
  pathQuery: string
  tuning?: Partial<PoolTuning>
}

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
 * Finds the recording directory of a call in the switch's database (postgres.js pool, prepared
 * statement). postgres.js opens connections lazily and replaces broken ones on the next query, so after
 * an outage the next lookup reconnects by itself: nothing here needs restarting.
 */
export class RecordPathLookup {
  private readonly sql: postgres.Sql

  constructor(private readonly options: RecordPathLookupOptions) {
    const tuning = { ...DEFAULT_POOL_TUNING, ...options.tuning }
    this.sql = postgres(options.databaseUrl, {
      max: tuning.maxConnections,
      connect_timeout: tuning.connectTimeoutS,
      idle_timeout: tuning.idleTimeoutS,
      prepare: true,
      // The lookup returns text only: skipping the type catalogue saves a round trip per new connection.
      fetch_types: false,
      onnotice: () => {},
      connection: {
        application_name: 'cx-recording-gateway',
        statement_timeout: tuning.statementTimeoutMs
      }
    })
  }

  /**
   * The `record_path` of the call, or null when the database knows no such call (including a dialogId
   * that cannot even be a key there, e.g. not a UUID: the database rejects it as a data exception).
   */
  async recordPath(dialogId: string, signal?: AbortSignal): Promise<string | null> {
    const rows = await this.run(() => this.sql.unsafe(this.options.pathQuery, [dialogId], { prepare: true }), signal, true)
    if (rows === null) return null
    const first = rows[0]
    if (first === undefined) return null
    const value: unknown = Object.values(first)[0]
    return typeof value === 'string' && value !== '' ? value : null
  }

  /** `select 1`: proves a connection can be made and used. */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.run(() => this.sql`select 1`, signal, false)
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 })
  }

  /** Runs one query, cancelling it on abort; null when `dataExceptionIsEmpty` and the input was rejected. */
  private async run(
    makeQuery: () => postgres.PendingQuery<postgres.Row[]>,
    signal: AbortSignal | undefined,
    dataExceptionIsEmpty: boolean
  ): Promise<postgres.RowList<postgres.Row[]> | null> {
    signal?.throwIfAborted()
    const query = makeQuery()
    const onAbort = (): void => query.cancel()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await query
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (dataExceptionIsEmpty && err instanceof postgres.PostgresError && err.code.startsWith('22')) return null
      throw classify(err)
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }
}

/** Maps a postgres.js error to the HTTP-facing error; messages never carry the connection URL. */
export function classify(err: unknown): Error {
  if (err instanceof postgres.PostgresError) {
    if (err.code === '57014') return new UpstreamUnavailableError('efswitch', 'database query timed out')
    if (UNAVAILABLE_CLASSES.has(err.code.slice(0, 2))) {
      return new UpstreamUnavailableError('efswitch', `database refused the query (SQLSTATE ${err.code}: ${err.message})`)
    }
    // Anything else is a fault of the configured query or schema (e.g. EFSWITCH_PATH_QUERY names a
    // column that does not exist): the upstream answered, but not with something usable.
    return new UpstreamError('efswitch', `recording path query failed (SQLSTATE ${err.code}: ${err.message})`)
  }
  const code = errorCode(err)
  if (code !== undefined && CONNECTION_CODES.has(code)) {
    return new UpstreamUnavailableError('efswitch', `database not reachable (${code})`)
  }
  return err instanceof Error ? err : new Error(String(err))
}
