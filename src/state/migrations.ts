import type postgres from 'postgres'

/**
 * The PostgreSQL state schema, as numbered steps applied in order at start-up and recorded in
 * `schema_migrations`. A released migration is never edited: a change is a new step.
 */
export interface Migration {
  readonly version: number
  readonly name: string
  /** Run one after the other in the migration's transaction (one statement each: no multi-statement strings). */
  readonly statements: readonly string[]
}

/*
 * Times are timestamptz so that an operator reading the tables sees dates; the store converts to and
 * from epoch milliseconds exactly (timestamptz keeps microseconds). The cursor is a bigint of epoch
 * milliseconds because it is compared and planned with, never read by people.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'push state: cursor, ledger, failed legs, pending calls, run reports',
    statements: [
      `create table push_cursor (
         singleton boolean primary key default true check (singleton),
         cursor_ms bigint not null,
         updated_at timestamptz not null default now()
       )`,
      `create table push_ledger (
         leg_id text primary key,
         accepted_at timestamptz not null,
         instance text not null
       )`,
      `create index push_ledger_accepted_at on push_ledger (accepted_at)`,
      `create table push_failed (
         leg_id text primary key,
         failed_at timestamptz not null,
         reason text not null,
         instance text not null
       )`,
      `create index push_failed_failed_at on push_failed (failed_at)`,
      `create table push_pending (
         dialog_id text primary key,
         call jsonb not null,
         first_seen_at timestamptz not null,
         updated_at timestamptz not null default now()
       )`,
      `create table push_run_reports (
         id text primary key,
         instance text not null,
         trigger text not null,
         status text not null,
         started_at timestamptz not null,
         saved_at timestamptz not null default clock_timestamp(),
         report jsonb not null
       )`,
      `create index push_run_reports_saved_at on push_run_reports (saved_at desc)`
    ]
  }
]

/**
 * Key of the transaction-level advisory lock that serializes migrations across instances: two
 * gateways starting at once apply each step exactly once, the second one waiting for the first.
 * ASCII "cxgw" "migr"; advisory keys are per database, so only other users of the same key collide.
 */
export const MIGRATION_LOCK_KEY = '7167592569594537842'

export interface MigrationResult {
  /** Versions applied by this call, in order. */
  readonly applied: number[]
  /** Highest version recorded in the database afterwards. */
  readonly current: number
  /** Versions recorded in the database that this code does not know (a newer gateway migrated it). */
  readonly unknown: number[]
}

/**
 * Applies the missing migrations, each in its own transaction that first takes the migration lock,
 * so a failure leaves the database at the last complete step and concurrent start-ups queue up
 * instead of racing on `create table`.
 */
export async function migrate(sql: postgres.Sql, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  assertOrdered(migrations)
  const applied: number[] = []
  for (const m of migrations) {
    const done = await sql.begin(async (tx) => {
      await tx.unsafe('select pg_advisory_xact_lock($1::text::bigint)', [MIGRATION_LOCK_KEY])
      // Inside the lock: the first instance creates it, the others find it.
      await tx.unsafe(`create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`)
      const found = await tx.unsafe('select 1 from schema_migrations where version = $1::int', [m.version])
      if (found.length > 0) return false
      for (const statement of m.statements) await tx.unsafe(statement)
      await tx.unsafe('insert into schema_migrations (version, name) values ($1::int, $2::text)', [m.version, m.name])
      return true
    })
    if (done) applied.push(m.version)
  }
  const rows = await sql.unsafe<Array<{ version: number }>>('select version from schema_migrations order by version')
  const known = new Set(migrations.map((m) => m.version))
  return {
    applied,
    current: rows.length === 0 ? 0 : rows[rows.length - 1]!.version,
    unknown: rows.map((r) => r.version).filter((v) => !known.has(v))
  }
}

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i + 1} has version ${m.version}: versions must be 1, 2, 3, ... in order`)
  })
}
