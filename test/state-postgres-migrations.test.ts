import postgres from 'postgres'
import t, { type Test } from 'tap'
import { migrate, MIGRATION_LOCK_KEY, MIGRATIONS, type Migration } from '../src/state/migrations.js'
import { PostgresStateStore } from '../src/state/postgres-store.js'
import { startPostgres } from './helpers/postgres.js'

const pg = await startPostgres()
t.teardown(() => pg.close())

function client(t: Test, url: string): postgres.Sql {
  const sql = postgres(url, { max: 2, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  return sql
}

async function tables(sql: postgres.Sql): Promise<string[]> {
  const rows = await sql<Array<{ name: string }>>`select tablename as name from pg_tables where schemaname = 'public' order by 1`
  return rows.map((r) => r.name)
}

t.test('a fresh database gets every migration once; a second start-up applies nothing', async (t) => {
  const sql = client(t, await pg.createDatabase('fresh'))
  const first = await migrate(sql)
  t.same(first, { applied: MIGRATIONS.map((m) => m.version), current: MIGRATIONS.length, unknown: [] })
  t.same(await tables(sql), ['push_cursor', 'push_failed', 'push_ledger', 'push_pending', 'push_run_reports', 'schema_migrations'])
  const second = await migrate(sql)
  t.same(second, { applied: [], current: MIGRATIONS.length, unknown: [] })
  const recorded = await sql<Array<{ version: number; name: string }>>`select version, name from schema_migrations order by version`
  t.same(
    recorded.map((r) => [r.version, r.name]),
    MIGRATIONS.map((m) => [m.version, m.name])
  )
})

t.test('four instances starting at once: each migration applied exactly once, every start-up succeeds', async (t) => {
  const url = await pg.createDatabase('concurrent')
  const applied: number[][] = []
  const stores = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      PostgresStateStore.open(url, { instanceId: `gw-${i}`, onMigrated: (r) => applied.push(r.applied) })
    )
  )
  t.teardown(() => Promise.all(stores.map((s) => s.close())))
  t.same(
    applied.flat().sort(),
    MIGRATIONS.map((m) => m.version),
    'one start-up applied the migrations, the others found them done'
  )
  t.equal(applied.filter((a) => a.length === 0).length, 3)
  const sql = client(t, url)
  const [row] = await sql`select count(*)::int as n, count(distinct version)::int as d from schema_migrations`
  t.same(row, { n: MIGRATIONS.length, d: MIGRATIONS.length })
  // Every instance can use the schema straight away.
  await Promise.all(stores.map((s, i) => s.recordAccepted(`leg-${i}`, 1)))
  t.equal((await stores[0]!.settled(['leg-0', 'leg-1', 'leg-2', 'leg-3'])).size, 4)
})

t.test('a failing migration rolls back whole and leaves the last complete version; fixed, it applies', async (t) => {
  const sql = client(t, await pg.createDatabase('failing'))
  const one: Migration = { version: 1, name: 'one', statements: ['create table one (id int primary key)'] }
  const broken: Migration = {
    version: 2,
    name: 'two',
    statements: ['create table two (id int primary key)', 'alter table one add column x int', 'select 1 / 0']
  }
  await t.rejects(migrate(sql, [one, broken]), { message: /division by zero/ })
  t.same(await tables(sql), ['one', 'schema_migrations'], 'table two was rolled back with its migration')
  const cols = await sql<Array<{ column_name: string }>>`select column_name from information_schema.columns where table_name = 'one' order by 1`
  t.same(
    cols.map((c) => c.column_name),
    ['id'],
    'the earlier statement of the broken migration was rolled back too'
  )
  t.same((await sql<Array<{ version: number }>>`select version from schema_migrations`).map((r) => r.version), [1])

  const fixed: Migration = { ...broken, statements: broken.statements.slice(0, 2) }
  t.same(await migrate(sql, [one, fixed]), { applied: [2], current: 2, unknown: [] })
  t.same(await tables(sql), ['one', 'schema_migrations', 'two'])
})

t.test('versions this gateway does not know (a newer gateway migrated) are reported, not fatal', async (t) => {
  const sql = client(t, await pg.createDatabase('newer'))
  await migrate(sql)
  await sql`insert into schema_migrations (version, name) values (${MIGRATIONS.length + 1}, 'from the future')`
  const r = await migrate(sql)
  t.same(r, { applied: [], current: MIGRATIONS.length + 1, unknown: [MIGRATIONS.length + 1] })
})

t.test('migrations must be numbered 1, 2, 3 in order', async (t) => {
  const sql = client(t, await pg.createDatabase('misnumbered'))
  await t.rejects(migrate(sql, [{ version: 2, name: 'x', statements: [] }]), { message: /migration 1 has version 2/ })
  t.same(await tables(sql), [], 'nothing was touched')
})

t.test('an unreachable database stops start-up with a message naming the state database, no password', async (t) => {
  const err = await PostgresStateStore.open('postgres://gw:s3cret-pw@127.0.0.1:1/state', { instanceId: 'gw', tuning: { connectTimeoutS: 2 } }).then(
    () => null,
    (e: unknown) => e as Error
  )
  t.equal(err?.name, 'StateDatabaseError')
  t.match(err?.message, /^state database: .*ECONNREFUSED/)
  t.notMatch(err?.message, 's3cret-pw')
})

t.test('a start-up migration that gets no answer fails within its deadline, with a message saying so', async (t) => {
  const url = await pg.createDatabase('migration_deadline')
  // Another instance holds the migration lock and never lets go; the server's own statement_timeout is
  // set far out, as on a frozen host that never enforces it: only the gateway's deadline is left.
  const holder = client(t, url)
  const reserved = await holder.reserve()
  t.teardown(() => reserved.release())
  await reserved.unsafe('select pg_advisory_lock($1::text::bigint)', [MIGRATION_LOCK_KEY])

  const opening = PostgresStateStore.open(url, { instanceId: 'gw-waiting', tuning: { statementTimeoutMs: 600_000, migrationTimeoutMs: 300 } })
  await t.rejects(opening, { name: 'StateDatabaseError', message: 'state database: schema migration: no answer within 300 ms' })

  await reserved.unsafe('select pg_advisory_unlock($1::text::bigint)', [MIGRATION_LOCK_KEY])
  const store = await PostgresStateStore.open(url, { instanceId: 'gw-after', tuning: { migrationTimeoutMs: 30_000 } })
  t.teardown(() => store.close())
  t.same((await tables(holder)).includes('push_ledger'), true, 'once the lock is free the same start-up migrates')
})
