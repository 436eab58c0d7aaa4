import postgres from 'postgres'
import { UpstreamTimeoutError } from '../../../errors.js'
import { DeadlinePool } from '../../deadline-pool.js'
import { postgresFailure } from '../../postgres-failure.js'
import type { CoupleRow } from './couple-rows.js'

export interface CouplesLookupOptions {
  readonly databaseUrl: string
  /** SQL taking `$1` = dialogId and `$2` = the external-data key; returns the COUPLE_COLUMNS. */
  readonly legsQuery: string
  readonly dialogKey: string
  /** Every query (and connecting) must be answered within this, or it fails with a 504. */
  readonly deadlineMs: number
  readonly maxConnections?: number
}

const ignore = (): void => {}

/**
 * Reads a call's couples from CallREC's PostgreSQL (postgres.js pool, prepared statement, read-only
 * use). `timestamp without time zone` columns are taken as the text PostgreSQL prints, because
 * postgres.js would otherwise read them in this process's local zone, which need not be CallREC's.
 *
 * Every query runs against a client-side deadline (a DeadlinePool: a host that stopped answering
 * never sends statement_timeout's error) and fails with a 504 when it passes.
 */
export class CouplesLookup {
  readonly #pool: DeadlinePool<{ localTimestamp: string }>
  readonly #opts: CouplesLookupOptions

  constructor(opts: CouplesLookupOptions) {
    this.#opts = opts
    this.#pool = new DeadlinePool({
      connect: () => this.#connect(),
      deadlineMs: opts.deadlineMs,
      missed: (what) => new UpstreamTimeoutError('eleveo', `the database did not answer the ${what} within ${opts.deadlineMs} ms`)
    })
  }

  #connect(): postgres.Sql<{ localTimestamp: string }> {
    const { databaseUrl, deadlineMs, maxConnections } = this.#opts
    return postgres(databaseUrl, {
      max: maxConnections ?? 4,
      connect_timeout: Math.max(1, Math.ceil(deadlineMs / 1000)),
      idle_timeout: 60,
      prepare: true,
      fetch_types: false,
      onnotice: ignore,
      types: {
        localTimestamp: { to: 1114, from: [1114], serialize: (x: string) => x, parse: (x: string) => x }
      },
      connection: {
        application_name: 'cx-recording-gateway',
        statement_timeout: deadlineMs,
        // The text of a timestamp is parsed here: ask for the ISO form whatever the server's default.
        DateStyle: 'ISO, YMD'
      }
    })
  }

  /** The couples whose external data `dialogKey` equals the dialogId, as rows (unvalidated). */
  async couples(dialogId: string, signal?: AbortSignal): Promise<CoupleRow[]> {
    const what = 'legs query (ELEVEO_LEGS_QUERY or the default)'
    const rows = await this.#run((sql) => sql.unsafe(this.#opts.legsQuery, [dialogId, this.#opts.dialogKey], { prepare: true }), what, signal)
    return [...rows]
  }

  /** `select 1`: a connection can be made and used in time. */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.#run((sql) => sql`select 1`, 'reachability check', signal)
  }

  async close(): Promise<void> {
    await this.#pool.close()
  }

  async #run<R extends postgres.Row[]>(
    make: (sql: postgres.Sql<{ localTimestamp: string }>) => postgres.PendingQuery<R>,
    what: string,
    signal: AbortSignal | undefined
  ): Promise<postgres.RowList<R>> {
    try {
      return await this.#pool.run(make, what, signal)
    } catch (err) {
      if (err instanceof UpstreamTimeoutError || signal?.aborted === true) throw err
      throw postgresFailure(err, 'eleveo', `the ${what}`)
    }
  }
}
