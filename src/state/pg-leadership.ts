import postgres from 'postgres'
import type { Lease, Leadership } from './leadership.js'
import {
  DEFAULT_STATE_POOL_TUNING,
  StateDatabaseError,
  stateConnectionOptions,
  type PostgresStateStore,
  type SqlParam,
  type StatementRunner
} from './postgres-store.js'

/**
 * Key of the session advisory lock whose holder runs the push job (ASCII "cxgwpush"). Advisory keys
 * are per database: only something else using this very key could collide.
 */
export const PUSH_LOCK_KEY = '7167592569645658984'

/** The lock's session ended (or stopped answering) while a run held it. */
export class LeadershipLostError extends Error {
  constructor(detail: string) {
    super(`push leadership lost: ${detail}`)
    this.name = 'LeadershipLostError'
  }
}

type LeadershipLog = { warn(obj: object, msg: string): void }

export interface PgLeadershipOptions {
  readonly url: string
  /** The shared store; a lease binds its lock session to it for the run (plan writes fenced by the lock). */
  readonly store: PostgresStateStore
  readonly instanceId: string
  readonly log?: LeadershipLog
  /** A cheap query on the lock's session this often during a run. Default 1000 ms. */
  readonly heartbeatMs?: number
  /** A heartbeat unanswered this long counts as a lost session. Default 5000 ms. */
  readonly heartbeatTimeoutMs?: number
  readonly connectTimeoutS?: number
  readonly statementTimeoutMs?: number
  /**
   * The server ends the lock's session after this long without a statement (PostgreSQL 14+), so a
   * leader whose process hangs with its socket open cannot hold the lock forever. Default 30 s.
   */
  readonly idleSessionTimeoutMs?: number
}

/**
 * Leadership by a PostgreSQL session advisory lock (`pg_try_advisory_lock`), taken before each run on
 * a connection of its own and released after it. Instances that do not get it skip the run; whoever
 * ticks next after the leader's session ends takes over.
 *
 * Each lease opens its own one-connection client: a connection of postgres.js that was reserved and
 * then closed must never be used again (its next query would crash the process, and a pooled one
 * would silently reconnect to a session that does not hold the lock). One connection setup per tick
 * of PUSH_INTERVAL_S costs nothing worth saving.
 */
export class PgLeadership implements Leadership {
  readonly #o: PgLeadershipOptions

  constructor(options: PgLeadershipOptions) {
    this.#o = options
  }

  async acquire(): Promise<Lease | null> {
    const o = this.#o
    const events: { onclose: (() => void) | null } = { onclose: null }
    const sql = postgres(o.url, {
      ...stateConnectionOptions(
        {
          ...DEFAULT_STATE_POOL_TUNING,
          maxConnections: 1,
          ...(o.connectTimeoutS !== undefined ? { connectTimeoutS: o.connectTimeoutS } : {}),
          ...(o.statementTimeoutMs !== undefined ? { statementTimeoutMs: o.statementTimeoutMs } : {})
        },
        `cx-recording-gateway lock ${o.instanceId}`
      ),
      // Runs synchronously when the socket closes, before any later query can be issued on it.
      onclose: () => events.onclose?.()
    })
    try {
      const reserved = await sql.reserve()
      const idleMs = o.idleSessionTimeoutMs ?? 30_000
      await reserved.unsafe(
        "select set_config('idle_session_timeout', $1::text, false) where current_setting('server_version_num')::int >= 140000",
        [String(idleMs)]
      )
      const rows = await reserved.unsafe<Array<{ got: boolean; pid: number }>>(
        'select pg_try_advisory_lock($1::text::bigint) as got, pg_backend_pid() as pid',
        [PUSH_LOCK_KEY]
      )
      const row = rows[0]
      if (row?.got !== true) {
        // Handed back first: postgres.js waits for a reserved connection to be released before ending it.
        reserved.release()
        await sql.end({ timeout: 1 }).catch(() => undefined)
        return null
      }
      return new PgLease(sql, reserved, row.pid, events, o)
    } catch (err) {
      await sql.end({ timeout: 0 }).catch(() => undefined)
      throw new StateDatabaseError(err)
    }
  }
}

/** One run's hold of the lock. */
class PgLease implements Lease, StatementRunner {
  readonly #unbind: () => void
  readonly #sql: postgres.Sql
  readonly #reserved: postgres.ReservedSql
  readonly #o: PgLeadershipOptions
  readonly #pid: number
  readonly #abort = new AbortController()
  readonly #lostPromise: Promise<never>
  #rejectLost: (err: Error) => void = () => {}
  #lost: LeadershipLostError | null = null
  #released = false
  readonly #heartbeat: NodeJS.Timeout
  #beatSince: number | null = null

  constructor(sql: postgres.Sql, reserved: postgres.ReservedSql, pid: number, events: { onclose: (() => void) | null }, o: PgLeadershipOptions) {
    this.#sql = sql
    this.#reserved = reserved
    this.#pid = pid
    this.#o = o
    this.#lostPromise = new Promise<never>((_, reject) => {
      this.#rejectLost = reject
    })
    // Only ever raced against a query: never an unhandled rejection when nobody is waiting.
    this.#lostPromise.catch(() => undefined)
    events.onclose = () => this.#lose('the lock session closed')
    this.#unbind = o.store.bindSession(this)
    const every = o.heartbeatMs ?? 1000
    const timeout = o.heartbeatTimeoutMs ?? 5000
    this.#heartbeat = setInterval(() => this.#beat(timeout), every)
    this.#heartbeat.unref()
  }

  get signal(): AbortSignal {
    return this.#abort.signal
  }

  /**
   * A statement on the lock's session. Refused once the session is gone: the check and the hand-over
   * to postgres.js happen without an I/O turn in between, so a closed connection is never written to.
   */
  run<T extends object>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
    if (this.#lost !== null) return Promise.reject(this.#lost)
    if (this.#released) return Promise.reject(new Error('the push lease was released'))
    const query = this.#reserved.unsafe(text, params as SqlParam[], { prepare: true }) as unknown as Promise<T[]>
    return Promise.race([query, this.#lostPromise]).catch((err: unknown) => {
      throw err instanceof LeadershipLostError ? err : new StateDatabaseError(err)
    })
  }

  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    clearInterval(this.#heartbeat)
    this.#unbind()
    if (this.#lost === null) {
      // Ending the session would release the lock too; unlocking first lets another instance in sooner.
      await Promise.race([this.#reserved.unsafe('select pg_advisory_unlock($1::text::bigint)', [PUSH_LOCK_KEY]), this.#lostPromise]).catch(
        () => undefined
      )
    }
    // A live connection is handed back first (postgres.js waits for a reserved one to be released
    // before ending it); a lost one never is: it may be closed, and handing it back would reopen it.
    if (this.#lost === null) this.#reserved.release()
    await this.#sql.end({ timeout: 1 }).catch(() => undefined)
  }

  #beat(timeoutMs: number): void {
    if (this.#lost !== null || this.#released) return
    if (this.#beatSince !== null) {
      if (Date.now() - this.#beatSince > timeoutMs) this.#lose(`the lock session did not answer a heartbeat within ${timeoutMs} ms`)
      return
    }
    this.#beatSince = Date.now()
    this.run('select 1').then(
      () => {
        this.#beatSince = null
      },
      (err: unknown) => this.#lose(`heartbeat failed: ${(err as Error).message}`)
    )
  }

  #lose(detail: string): void {
    if (this.#lost !== null || this.#released) return
    const err = new LeadershipLostError(detail)
    this.#lost = err
    clearInterval(this.#heartbeat)
    this.#o.log?.warn({ pid: this.#pid, reason: detail }, 'push leadership lost: the run stops before its next message')
    this.#abort.abort(err)
    this.#rejectLost(err)
    // Drop the socket if it is still open (a hung session): the server then ends it and frees the lock.
    void this.#sql.end({ timeout: 0 }).catch(() => undefined)
  }
}
