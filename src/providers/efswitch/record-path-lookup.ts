import postgres from 'postgres'
import { UpstreamUnavailableError } from '../../errors.js'
import { DeadlinePool } from '../deadline-pool.js'
import { postgresFailure } from '../postgres-failure.js'

export interface PoolTuning {
  /** A lookup is one short query; a handful of connections serve many concurrent requests. */
  maxConnections: number
  connectTimeoutS: number
  /**
   * EFSWITCH_QUERY_TIMEOUT_MS: the client-side deadline of every query, counted from when it is asked
   * (waiting for a pooled connection and connecting included), and the session's statement_timeout.
   * The server enforces the latter only while it runs: a frozen host (SIGSTOP, a hung VM) never does.
   */
  queryTimeoutMs: number
  idleTimeoutS: number
}

export const DEFAULT_POOL_TUNING: PoolTuning = {
  maxConnections: 4,
  connectTimeoutS: 5,
  queryTimeoutMs: 5_000,
  idleTimeoutS: 60
}

export interface RecordPathLookupOptions {
  databaseUrl: string
  /**
   * SQL returning the call's recording directories, one per row in the first column. `$1` is the
   * dialogId (text); `$2`, when the query names it, is the dialogId if it is a UUID and null otherwise,
   * so a query never has to cast a Call-ID to uuid (see pathQueryParameters).
   */
  pathQuery: string
  tuning?: Partial<PoolTuning>
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The dialogId when it is a canonical UUID (what `::uuid` accepts without error), else null. */
export function uuidOrNull(dialogId: string): string | null {
  return UUID.test(dialogId) ? dialogId : null
}

/** The highest `$n` a query names: 1 or 2 for a valid EFSWITCH_PATH_QUERY (checked in config.ts). */
export function highestParameter(query: string): number {
  let highest = 0
  for (const m of query.matchAll(/\$(\d+)/g)) highest = Math.max(highest, Number(m[1]))
  return highest
}

/**
 * Finds the recording directories of a call in the switch's database (postgres.js pool, prepared
 * statement, every query under the client-side deadline of a DeadlinePool). postgres.js opens
 * connections lazily and replaces broken ones on the next query, so after an outage the next lookup
 * reconnects by itself: nothing here needs restarting.
 */
export class RecordPathLookup {
  private readonly pool: DeadlinePool
  private readonly passesUuid: boolean

  constructor(private readonly options: RecordPathLookupOptions) {
    const tuning = { ...DEFAULT_POOL_TUNING, ...options.tuning }
    this.passesUuid = highestParameter(options.pathQuery) >= 2
    this.pool = new DeadlinePool({
      deadlineMs: tuning.queryTimeoutMs,
      missed: (what) => new UpstreamUnavailableError('efswitch', `database query timed out (no answer to the ${what} within ${tuning.queryTimeoutMs} ms)`),
      connect: () =>
        postgres(options.databaseUrl, {
          max: tuning.maxConnections,
          connect_timeout: tuning.connectTimeoutS,
          idle_timeout: tuning.idleTimeoutS,
          prepare: true,
          // The lookup returns text only: skipping the type catalogue saves a round trip per new connection.
          fetch_types: false,
          onnotice: () => {},
          connection: {
            application_name: 'cx-recording-gateway',
            statement_timeout: tuning.queryTimeoutMs
          }
        })
    })
  }

  /**
   * The distinct non-empty directories the query returns for the call (first column of every row), in
   * the order first seen; empty when the database knows no such call. A custom query that casts `$1`
   * and gets a dialogId it cannot take (a data exception) counts as "no such call" too.
   */
  async recordPaths(dialogId: string, signal?: AbortSignal): Promise<string[]> {
    const parameters = this.passesUuid ? [dialogId, uuidOrNull(dialogId)] : [dialogId]
    let rows: postgres.RowList<postgres.Row[]>
    try {
      rows = await this.pool.run((sql) => sql.unsafe(this.options.pathQuery, parameters, { prepare: true }), 'path query', signal)
    } catch (err) {
      if (err instanceof postgres.PostgresError && err.code.startsWith('22')) return []
      throw postgresFailure(err, 'efswitch', 'recording path query')
    }
    const paths = new Set<string>()
    for (const row of rows) {
      const value: unknown = Object.values(row)[0]
      if (typeof value === 'string' && value !== '') paths.add(value)
    }
    return [...paths]
  }

  /** `select 1`: proves a connection can be made and used in time. */
  async ping(signal?: AbortSignal): Promise<void> {
    try {
      await this.pool.run((sql) => sql`select 1`, 'reachability check', signal)
    } catch (err) {
      throw postgresFailure(err, 'efswitch', 'reachability check')
    }
  }

  async close(): Promise<void> {
    await this.pool.close()
  }
}
