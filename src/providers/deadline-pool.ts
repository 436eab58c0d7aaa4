import type postgres from 'postgres'

const ignore = (): void => {}

export interface DeadlinePoolOptions<T extends Record<string, unknown>> {
  /** Makes a new postgres.js pool (at start, and after a missed deadline). */
  readonly connect: () => postgres.Sql<T>
  /** Every query's deadline, counted from when it is asked: waiting for a connection and connecting included. */
  readonly deadlineMs: number
  /** The error a query that missed its deadline rejects with; `what` names the query. */
  readonly missed: (what: string) => Error
}

/**
 * A vendor database pool whose queries end on a clock kept here, on the client. The server's
 * statement_timeout covers a slow query, but a host that stopped answering altogether (frozen,
 * SIGSTOPped, a half-open connection after a failover) never sends that error: without a client-side
 * clock a request would wait as long as the TCP connection lives.
 *
 * After a missed deadline new queries go to a new pool: every connection of the old one may be waiting
 * on a host that will never answer, which would make the pool useless for many minutes. The old pool's
 * connections are dropped; its queries still running fail then (CONNECTION_DESTROYED), as they would
 * have at their own deadline.
 */
export class DeadlinePool<T extends Record<string, unknown> = Record<string, never>> {
  #sql: postgres.Sql<T>
  readonly #opts: DeadlinePoolOptions<T>

  constructor(opts: DeadlinePoolOptions<T>) {
    this.#opts = opts
    this.#sql = opts.connect()
  }

  /**
   * Runs the query `make` builds on the current pool. Rejects with `missed(what)` at the deadline and
   * with the signal's reason on abort; any other failure is postgres.js's own error, for the caller to
   * classify.
   */
  async run<R extends postgres.Row[]>(
    make: (sql: postgres.Sql<T>) => postgres.PendingQuery<R>,
    what: string,
    signal?: AbortSignal
  ): Promise<postgres.RowList<R>> {
    signal?.throwIfAborted()
    const pool = this.#sql
    const query = make(pool)
    // The query may settle after we stopped waiting for it: nobody must be left to hear its rejection.
    query.catch(ignore)
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    // A timer we hold, not AbortSignal.timeout: that one can be collected before it fires (issue 14).
    // No query.cancel(): postgres.js drops the promise of the cancel request it opens a connection for,
    // so a cancel that cannot connect (the very case here) becomes an unhandled rejection. A live server
    // ends the statement itself (statement_timeout is the same deadline); a silent one is left with its
    // pool, which is dropped.
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#replace(pool)
        reject(this.#opts.missed(what))
      }, this.#opts.deadlineMs)
      onAbort = () => reject(signal?.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    try {
      return await Promise.race([query, giveUp])
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  async close(): Promise<void> {
    // A frozen server never acknowledges the goodbye: give it a moment, then drop the sockets.
    await this.#sql.end({ timeout: 2 })
  }

  #replace(stale: postgres.Sql<T>): void {
    if (this.#sql !== stale) return
    this.#sql = this.#opts.connect()
    stale.end({ timeout: 0 }).catch(ignore)
  }
}
