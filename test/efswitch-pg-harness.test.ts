/*
 * The real-PostgreSQL harness other test files build on (EFSwitch here, the shared state store later):
 * databases can be created, a stop keeps the data and a start brings it back on the same port, and a
 * test process that dies does not leave its server running.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { startPostgres } from './helpers/postgres.js'

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** The harness's temp directory whose server log says it listened on `port`, if any is left. */
function dataDirOf(port: number): string | undefined {
  return readdirSync(tmpdir())
    .filter((name) => name.startsWith('gw-pg-'))
    .map((name) => join(tmpdir(), name))
    .find((dir) => {
      try {
        return readFileSync(join(dir, 'server.log'), 'utf8').includes(`port ${port}`)
      } catch {
        return false
      }
    })
}

/** Polls until `check` is true; the bound only keeps a broken cleanup from hanging the suite. */
async function eventually(check: () => Promise<boolean>, attempts = 100): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

t.test('databases, stop keeps data, start on the same port, close removes the server', async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  t.match(pg.url, new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:${pg.port}/postgres$`))

  const url = await pg.createDatabase('harness_a')
  t.equal(url, `postgres://postgres@127.0.0.1:${pg.port}/harness_a`)
  await t.rejects(pg.createDatabase('x; drop database postgres'), /not a simple identifier/)

  const sql = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  await sql`create table kept (v int)`
  await sql`insert into kept values (42)`

  await pg.stop()
  t.equal(await listening(pg.port), false, 'stopped')
  await t.rejects(sql`select 1`, { code: 'ECONNREFUSED' })
  await pg.start()
  t.equal(await listening(pg.port), true, 'listening again on the same port')
  t.same(await sql`select v from kept`, [{ v: 42 }], 'data survived, the same client reconnected')

  await sql.end({ timeout: 1 })
  await pg.close()
  t.equal(await listening(pg.port), false, 'closed')
  await pg.close()
  t.pass('close is idempotent')
})

for (const how of ['SIGKILL', 'exit'] as const) {
  t.test(`a test process that dies (${how}) does not leave its server behind`, async (t) => {
    const helper = fileURLToPath(new URL('./helpers/postgres.js', import.meta.url)).replace(/\.js$/, '.ts')
    const script = [
      `const { startPostgres } = await import(${JSON.stringify(helper)})`,
      'const pg = await startPostgres()',
      'process.stdout.write(JSON.stringify({ port: pg.port }) + "\\n")',
      how === 'SIGKILL' ? 'process.kill(process.pid, "SIGKILL")' : 'process.exit(3)',
      'await new Promise((r) => setTimeout(r, 60000))'
    ].join('\n')
    const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit']
    })
    let out = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal }))
    )
    t.same(exit, how === 'SIGKILL' ? { code: null, signal: 'SIGKILL' } : { code: 3, signal: null }, 'the child died as told')
    const { port } = JSON.parse(out.trim()) as { port: number }
    t.ok(port > 0)
    t.ok(await eventually(async () => !(await listening(port))), 'the server went away with it')
    t.ok(await eventually(async () => !dataDirOf(port)), 'and so did its data directory')
  })
}
