import { raceAbort } from '../race-abort.js'
import postgres from 'postgres'
import { migrate, type MigrationResult } from './migrations.js'
import { toPendingCall } from './model.js'
import type { FailedLeg, PendingCall, PushRunReport, PushStateView, Settlement, StateStore } from './types.js'

export type SqlParam = string | number | null

/**
 * Runs one SQL statement. The seam between the store and the connection a statement goes through:
 * the shared pool, or the session that holds the push leader's lock (see `fencedBy`).
 */
export interface StatementRunner {
  run<T extends object>(text: string, params?: readonly SqlParam[]): Promise<T[]>
}

/** The state database failed a statement (unreachable, restarting, timed out...). The message never holds credentials. */
export class StateDatabaseError extends Error {
  readonly code: string | undefined
  constructor(cause: unknown) {
    const e = cause as { message?: unknown; code?: unknown }
    super(`state database: ${typeof e?.message === 'string' ? e.message : String(cause)}`, { cause })
    this.name = 'StateDatabaseError'
    this.code = typeof e?.code === 'string' ? e.code : undefined
  }
}

export interface StatePoolTuning {
  /** The push job writes from a few workers at a time, /health/ready pings: a small pool is plenty. */
  readonly maxConnections: number
  readonly connectTimeoutS: number
  /** Every statement of the store is a point write or an indexed read: anything slower means trouble. */
  readonly statementTimeoutMs: number
  /**
   * The same bound kept by us: statement_timeout is the server's, so a frozen server (a hung host, a
   * network partition with sockets open) never enforces it, and the query would wait forever.
   */
  readonly queryTimeoutMs: number
  readonly idleTimeoutS: number
  /**
   * Bound on bringing the schema up to date at start-up, kept by us for the same reason. Longer than one
   * query: an instance may queue behind another one's migration (an advisory lock) for a while.
   */
  readonly migrationTimeoutMs: number
}

export const DEFAULT_STATE_POOL_TUNING: StatePoolTuning = {
  maxConnections: 4,
  connectTimeoutS: 5,
  statementTimeoutMs: 10_000,
  queryTimeoutMs: 10_000,
  idleTimeoutS: 60,
  migrationTimeoutMs: 60_000
}

export interface PostgresStateStoreOptions {
  /** Written beside ledger and failed entries, so an operator (and the tests) can tell who recorded what. */
  readonly instanceId: string
  readonly tuning?: Partial<StatePoolTuning>
  /** Run reports older than this are deleted when a new one is saved. Default 7 days. */
  readonly reportRetentionS?: number
  /** Called once migrations ran (e.g. to log what was applied). */
  readonly onMigrated?: (result: MigrationResult) => void
}

/** Options shared by every connection the gateway opens to the state database. */
export function stateConnectionOptions(tuning: StatePoolTuning, applicationName: string): postgres.Options<Record<string, never>> {
  return {
    max: tuning.maxConnections,
    connect_timeout: tuning.connectTimeoutS,
    idle_timeout: tuning.idleTimeoutS,
    prepare: true,
    onnotice: () => {},
    connection: {
      application_name: applicationName.slice(0, 63),
      statement_timeout: tuning.statementTimeoutMs
    }
  }
}

export function poolRunner(sql: postgres.Sql, queryTimeoutMs: number = DEFAULT_STATE_POOL_TUNING.queryTimeoutMs): StatementRunner {
  return {
    async run<T extends object>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
      const query = sql.unsafe(text, params as SqlParam[], { prepare: true })
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<never>((_resolve, reject) => {
        // No query.cancel(): postgres.js drops the promise of the cancel request it opens a connection
        // for, so a cancel that cannot connect is an unhandled rejection that ends the process. The
        // query is abandoned here; statement_timeout ends it on a server that runs again.
        timer = setTimeout(() => reject(new Error(`no answer within ${queryTimeoutMs} ms`)), queryTimeoutMs)
      })
      try {
        return (await Promise.race([query, deadline])) as unknown as T[]
      } catch (err) {
        throw new StateDatabaseError(err)
      } finally {
        clearTimeout(timer)
        // The losing side of the race must not reject unheard.
        query.catch(() => undefined)
      }
    }
  }
}

/*
 * Every write is one statement, hence atomic on its own, and committed (autocommit) before the
 * promise resolves: the durability contract of StateStore. Parameters are cast from text in SQL
 * (`$1::text::jsonb`): postgres.js would otherwise serialize a JSON string a second time.
 */
const MS = (p: string): string => `to_timestamp(${p}::text::float8 / 1000)`

const SQL = {
  cursor: `select cursor_ms::float8 as cursor from push_cursor where singleton`,
  pending: `select call from push_pending order by first_seen_at, dialog_id`,
  settled: `select leg_id, 'accepted' as settlement from push_ledger where leg_id in (select jsonb_array_elements_text($1::text::jsonb))
            union all
            select leg_id, 'failed' from push_failed where leg_id in (select jsonb_array_elements_text($1::text::jsonb))`,
  // Accepted wins over failed (a leg rejected once and accepted by a later backfill counts as accepted).
  accepted: `with forget as (delete from push_failed where leg_id = $1::text)
             insert into push_ledger (leg_id, accepted_at, instance) values ($1::text, ${MS('$2')}, $3::text)
             on conflict (leg_id) do nothing`,
  failed: `insert into push_failed (leg_id, failed_at, reason, instance)
           select $1::text, ${MS('$2')}, $3::text, $4::text
           where not exists (select 1 from push_ledger where leg_id = $1::text)
           on conflict (leg_id) do update set failed_at = excluded.failed_at, reason = excluded.reason, instance = excluded.instance`,
  upsertPending: `insert into push_pending (dialog_id, call, first_seen_at) values ($1::text, $2::text::jsonb, ${MS('$3')})
                  on conflict (dialog_id) do update set call = excluded.call, first_seen_at = excluded.first_seen_at, updated_at = now()`,
  removePending: `delete from push_pending where dialog_id = $1::text`,
  advanceCursor: `insert into push_cursor (singleton, cursor_ms) values (true, $1::text::bigint)
                  on conflict (singleton) do update set cursor_ms = excluded.cursor_ms, updated_at = now()`,
  prune: `with a as (delete from push_ledger where accepted_at < ${MS('$2')} returning 1),
               f as (delete from push_failed where failed_at < ${MS('$1')} returning 1)
          select ((select count(*) from a) + (select count(*) from f))::int as n`,
  saveReport: `with old as (delete from push_run_reports where saved_at < now() - make_interval(secs => $7::text::float8))
               insert into push_run_reports (id, instance, trigger, status, started_at, report)
               values ($1::text, $2::text, $3::text, $4::text, $5::text::timestamptz, $6::text::jsonb)
               on conflict (id) do update set status = excluded.status, report = excluded.report, saved_at = clock_timestamp()`,
  latestReport: `select report from push_run_reports order by saved_at desc, started_at desc limit 1`,
  ping: `select 1 as ok`
} as const

/**
 * The shared state store of several gateway instances: cursor, ledger, failed legs and pending calls
 * in PostgreSQL (schema from `migrations.ts`, applied at `open`).
 *
 * Two kinds of writes, two paths (see `bindSession`): facts (CX accepted or rejected a leg) and all
 * reads go through the pool; plans (cursor, pending calls, pruning) go through the session holding the
 * push leader's lock while one is bound, so that they cannot land once that lock is lost. (Reads need
 * no fence: a new leader reads only after taking the lock, i.e. after the old session ended.)
 */
export class PostgresStateStore implements StateStore {
  readonly kind = 'postgres'
  readonly #sql: postgres.Sql
  readonly #pool: StatementRunner
  readonly #instanceId: string
  readonly #reportRetentionS: number
  #session: StatementRunner | null = null

  private constructor(sql: postgres.Sql, instanceId: string, reportRetentionS: number, queryTimeoutMs: number) {
    this.#sql = sql
    this.#pool = poolRunner(sql, queryTimeoutMs)
    this.#instanceId = instanceId
    this.#reportRetentionS = reportRetentionS
  }

  /** Connects, brings the schema up to date (serialized across instances), and returns the store. */
  static async open(url: string, options: PostgresStateStoreOptions): Promise<PostgresStateStore> {
    const tuning = { ...DEFAULT_STATE_POOL_TUNING, ...options.tuning }
    const sql = postgres(url, stateConnectionOptions(tuning, `cx-recording-gateway ${options.instanceId}`))
    const deadline = AbortSignal.timeout(tuning.migrationTimeoutMs)
    try {
      const result = await raceAbort(migrate(sql), deadline)
      options.onMigrated?.(result)
    } catch (err) {
      // A frozen server never answers the end either: the connections are dropped after a second.
      await sql.end({ timeout: 1 }).catch(() => undefined)
      throw new StateDatabaseError(deadline.aborted ? new Error(`schema migration: no answer within ${tuning.migrationTimeoutMs} ms`) : err)
    }
    return new PostgresStateStore(sql, options.instanceId, options.reportRetentionS ?? 7 * 86_400, tuning.queryTimeoutMs)
  }

  /**
   * Sends plan writes (cursor, pending, prune) through `session`, the connection holding the
   * push lock, until the returned function unbinds it. The lease binds it for exactly one run; the
   * runner unbinds (releases) only after the run's last statement settled, so a session that died
   * mid-run stays bound, and refuses, until then.
   *
   * Why this fences a leader that lost its lock: PostgreSQL runs a statement of that session only while
   * the session exists, and the session holds the lock for as long as it exists. So every plan write of
   * the old leader is committed before the new leader can take the lock and load the state; none can
   * land later, however long it was delayed in the network. No fencing token is needed.
   *
   * Why facts are not fenced: "CX accepted leg L" is true whoever records it, and recording it late is
   * what stops the next leader from pushing L again. They are idempotent (first acceptance kept), and a
   * late one cannot lose a link: it only adds to the ledger.
   *
   * Why the cursor stays safe: a leader moves it past a window only after every leg of that window is
   * in the ledger, failed, or pending, all committed before the cursor statement, which is fenced.
   */
  bindSession(session: StatementRunner): () => void {
    if (this.#session !== null) throw new Error('a push lock session is already bound to this state store')
    this.#session = session
    return () => {
      if (this.#session === session) this.#session = null
    }
  }

  get #plans(): StatementRunner {
    return this.#session ?? this.#pool
  }

  async load(): Promise<PushStateView> {
    const [cursorRows, pendingRows] = await Promise.all([
      this.#pool.run<{ cursor: number }>(SQL.cursor),
      this.#pool.run<{ call: unknown }>(SQL.pending)
    ])
    return {
      cursor: cursorRows[0]?.cursor ?? null,
      pending: pendingRows.map((r) => toPendingCall(r.call))
    }
  }

  async settled(legIds: readonly string[]): Promise<Map<string, Settlement>> {
    const out = new Map<string, Settlement>()
    if (legIds.length === 0) return out
    const rows = await this.#pool.run<{ leg_id: string; settlement: Settlement }>(SQL.settled, [JSON.stringify(legIds)])
    for (const r of rows) {
      if (r.settlement === 'accepted' || !out.has(r.leg_id)) out.set(r.leg_id, r.settlement)
    }
    return out
  }

  async recordAccepted(legId: string, at: number): Promise<void> {
    await this.#pool.run(SQL.accepted, [legId, at, this.#instanceId])
  }

  async recordFailed(leg: FailedLeg): Promise<void> {
    await this.#pool.run(SQL.failed, [leg.legId, leg.at, leg.reason, this.#instanceId])
  }

  async upsertPending(call: PendingCall): Promise<void> {
    await this.#plans.run(SQL.upsertPending, [call.dialogId, JSON.stringify(call), call.firstSeenAt])
  }

  async removePending(dialogId: string): Promise<void> {
    await this.#plans.run(SQL.removePending, [dialogId])
  }

  async advanceCursor(to: number): Promise<void> {
    if (!Number.isSafeInteger(to)) throw new RangeError(`cursor must be integer epoch milliseconds, got ${to}`)
    await this.#plans.run(SQL.advanceCursor, [String(to)])
  }

  /** Ledger rows stay until `forgetBefore` (LEDGER_RETENTION_DAYS): an indexed table holds them cheaply. */
  async prune(before: number, forgetBefore: number = before): Promise<number> {
    const rows = await this.#plans.run<{ n: number }>(SQL.prune, [before, forgetBefore])
    return rows[0]?.n ?? 0
  }

  /** Every write is committed when it resolves: nothing to fold. */
  async checkpoint(): Promise<void> {}

  async saveRunReport(report: PushRunReport): Promise<void> {
    await this.#pool.run(SQL.saveReport, [
      report.id,
      report.instance,
      report.trigger,
      report.status,
      report.startedAt,
      JSON.stringify(report),
      this.#reportRetentionS
    ])
  }

  async latestRunReport(): Promise<PushRunReport | null> {
    const rows = await this.#pool.run<{ report: PushRunReport }>(SQL.latestReport)
    return rows[0]?.report ?? null
  }

  /**
   * `select 1` through the pool (readiness); abandoned when `signal` aborts (not cancelled: see
   * poolRunner on postgres.js's cancel).
   */
  async ping(signal?: AbortSignal): Promise<void> {
    const query = this.#sql.unsafe(SQL.ping)
    // The abandoned query must not reject unheard.
    query.catch(() => undefined)
    try {
      await (signal === undefined ? query : raceAbort(Promise.resolve(query), signal))
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      throw new StateDatabaseError(err)
    }
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 })
  }
}
