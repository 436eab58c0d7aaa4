import postgres from 'postgres'
import { UpstreamTimeoutError } from '../../../errors.js'
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
 * Every query runs against a deadline kept here, on the client: the server-side statement_timeout
 * covers a slow query, but a database host that stopped answering altogether (frozen, SIGSTOPped,
 * a half-open connection) never sends the error, and without a client-side clock the request would
 * hang for as long as the TCP connection lives.
 */
export class CouplesLookup {
  #sql: postgres.Sql<{ localTimestamp: string }>
  readonly #opts: CouplesLookupOptions

  constructor(opts: CouplesLookupOptions) {
    this.#opts = opts
    this.#sql = this.#connect()
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

  /**
   * After a missed deadline, new queries go to a new pool. The old pool's connection may be half-open
   * (the host froze, or failed over and its address now leads nowhere): TCP would keep it, and a pool
   * whose every connection waits on one is useless for many minutes. Its connections are dropped; a
   * query still running there fails, as it would have at its own deadline.
   */
  #replacePool(stale: postgres.Sql<{ localTimestamp: string }>): void {
    if (this.#sql !== stale) return
    this.#sql = this.#connect()
    stale.end({ timeout: 0 }).catch(ignore)
  }

  /** The couples whose external data `dialogKey` equals the dialogId, as rows (unvalidated). */
  async couples(dialogId: string, signal?: AbortSignal): Promise<CoupleRow[]> {
    const sql = this.#sql
    const query = sql.unsafe(this.#opts.legsQuery, [dialogId, this.#opts.dialogKey], { prepare: true })
    return [...(await this.#withDeadline(sql, query, 'legs query (ELEVEO_LEGS_QUERY or the default)', signal))]
  }

  /** `select 1`: a connection can be made and used in time. */
  async ping(signal?: AbortSignal): Promise<void> {
    const sql = this.#sql
    await this.#withDeadline(sql, sql`select 1`, 'reachability check', signal)
  }

  async close(): Promise<void> {
    // A frozen server never acknowledges the goodbye: give it a moment, then drop the sockets.
    await this.#sql.end({ timeout: 2 })
  }

  async #withDeadline<T extends readonly unknown[]>(
    pool: postgres.Sql<{ localTimestamp: string }>,
    query: postgres.PendingQuery<T extends postgres.Row[] ? T : postgres.Row[]> & Promise<T>,
    what: string,
    signal: AbortSignal | undefined
  ): Promise<T> {
    signal?.throwIfAborted()
    const { deadlineMs } = this.#opts
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    // The query may settle after we stopped waiting for it: nobody must be left to hear its rejection.
    query.catch(ignore)
    // No query.cancel(): postgres.js drops the promise of the cancel request it opens a connection for,
    // so a cancel that cannot connect (the very case here) becomes an unhandled rejection. A live server
    // ends the statement itself (statement_timeout is the same deadline); a silent one is left with its
    // pool, which is dropped.
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#replacePool(pool)
        reject(new UpstreamTimeoutError('eleveo', `the database did not answer the ${what} within ${deadlineMs} ms`))
      }, deadlineMs)
      onAbort = () => reject(signal?.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    try {
      return await Promise.race([query, giveUp])
    } catch (err) {
      if (err instanceof UpstreamTimeoutError || signal?.aborted) throw err
      throw postgresFailure(err, 'eleveo', `the ${what}`)
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }
}
