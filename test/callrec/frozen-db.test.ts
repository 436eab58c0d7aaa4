import t from 'tap'
import { readFileSync } from 'node:fs'
import postgres from 'postgres'
import { buildApp } from '../../src/app.js'
import { DEFAULT_CALLREC_LEGS_QUERY } from '../../src/config.js'
import { testConfig } from '../helpers/gateway-config.js'
import { formatLegId } from '../../src/legs/leg-id.js'
import { CallrecProvider } from '../../src/providers/eleveo/callrec/provider.js'
import { createCallrecTables, insertCouples } from '../../simulators/callrec-db.js'
import { startCallrecSimulator } from '../../simulators/callrec.js'
import { startPostgres } from '../helpers/postgres.js'
import { silencingRelay } from '../helpers/silencing-relay.js'

/*
 * A database host that stops answering without closing anything (SIGSTOP on every PostgreSQL process:
 * TCP still accepts, nothing replies). statement_timeout cannot fire on a stopped server; the provider's
 * own deadline must end every request with an error, and the first request after the server wakes works.
 */

// Generous enough for connecting and querying on a loaded machine; a frozen server misses it anyway.
const DEADLINE_MS = 2500
/** Far beyond the deadline: reaching it means the request hung. */
const HANG_MS = 20_000

const pg = await startPostgres()
t.teardown(() => pg.close())
const databaseUrl = await pg.createDatabase('callrec')
const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
await createCallrecTables(sql)
await insertCouples(sql, [{ sid: 'c1', dialogId: 'D1', agentExtension: '1001', ani: '555', start: '2026-12-06 10:00:00', stop: '2026-12-06 10:01:00' }])
const backend = (await sql<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid
// A backend's parent is the postmaster (field 4 of /proc/<pid>/stat, after the parenthesised name).
const backendStat = readFileSync(`/proc/${backend}/stat`, 'utf8')
const postmaster = Number(backendStat.slice(backendStat.lastIndexOf(')') + 2).split(' ')[1])
await sql.end({ timeout: 5 })

/** The postmaster and all its children (backends, background workers): the whole server. */
function serverPids(): number[] {
  const children = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  return [postmaster, ...children]
}

let frozen: number[] = []
function freeze(): void {
  frozen = serverPids()
  for (const p of frozen) process.kill(p, 'SIGSTOP')
}
function thaw(): void {
  for (const p of frozen) process.kill(p, 'SIGCONT')
  frozen = []
}
// Runs before pg.close (teardowns run last-in first-out): a stopped server cannot be shut down.
t.teardown(thaw)

async function settleWithin<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown; hung?: true }> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<{ hung: true }>((resolve) => (timer = setTimeout(() => resolve({ hung: true }), HANG_MS)))
  try {
    return await Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), hung])
  } finally {
    clearTimeout(timer)
  }
}

const sim = await startCallrecSimulator({ username: 'u', password: 'pw-frozen-1' })
t.teardown(() => sim.close())
const options = {
  baseUrl: sim.url,
  username: 'u',
  password: 'pw-frozen-1',
  timeoutMs: DEADLINE_MS,
  databaseUrl,
  legsQuery: DEFAULT_CALLREC_LEGS_QUERY,
  dialogKey: 'JTAPI_CISCO_ID',
  timeZone: 'UTC',
  holdMaxGapS: 900
}

t.test('a frozen database: every look-up and readiness check fails with 504 instead of hanging; it recovers', async (t) => {
  const warm = new CallrecProvider(options)
  t.teardown(() => warm.close())
  t.equal((await warm.findLegs('D1')).length, 1, 'a pooled connection exists before the freeze')

  freeze()
  // More look-ups than the pool has connections: queued ones are bounded by the same deadline.
  const results = await Promise.all(Array.from({ length: 6 }, () => settleWithin(warm.findLegs('D1'))))
  for (const r of results) {
    t.notOk(r.hung, 'did not hang')
    t.match(r.error, { statusCode: 504, code: 'GW_ERR_UPSTREAM_TIMEOUT', message: `Upstream eleveo timed out: the database did not answer the legs query (ELEVEO_LEGS_QUERY or the default) within ${DEADLINE_MS} ms` })
  }
  const cold = new CallrecProvider(options)
  t.teardown(() => cold.close())
  const fresh = await settleWithin(cold.findLegs('D1'))
  t.notOk(fresh.hung, 'a new connection to the frozen server does not hang either')
  t.match(fresh.error, { statusCode: 504 })
  const ping = await settleWithin(warm.ping())
  t.match(ping.error, { statusCode: 504, message: /reachability check within/ })

  thaw()
  t.equal((await warm.findLegs('D1')).length, 1, 'the first look-up after the thaw works')
  t.equal((await cold.findLegs('D1')).length, 1)
  await t.resolves(warm.ping())
})

t.test('over HTTP: a clean 504 JSON error', async (t) => {
  const app = await buildApp({
    config: testConfig({
      RECORDING_VENDOR: 'eleveo',
      ELEVEO_API: 'callrec',
      ELEVEO_BASE_URL: sim.url,
      ELEVEO_USERNAME: 'u',
      ELEVEO_PASSWORD: 'pw-frozen-1',
      ELEVEO_DATABASE_URL: databaseUrl,
      ELEVEO_TIMEOUT_MS: String(DEADLINE_MS),
      LEG_CACHE_TTL_MS: '0',
      HEALTH_CHECK_INTERVAL_MS: '100',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: '0'
    })
  })
  t.teardown(() => app.close())
  const legId = encodeURIComponent(formatLegId({ dialogId: 'D1', agentExtension: '1001', ani: '555', startTime: Date.parse('2026-12-06T10:00:00Z') }))
  freeze()
  const res = await settleWithin(app.inject({ method: 'GET', url: `/recordings/${legId}` }))
  thaw()
  t.notOk(res.hung)
  t.equal(res.value?.statusCode, 504)
  t.match(res.value?.json(), { statusCode: 504, error: 'Gateway Timeout', message: /the database did not answer/ })
})

t.test('connections that went silent are given up: once every pooled one is stuck, the next look-up opens new ones', async (t) => {
  const relay = await silencingRelay(t, pg.port, databaseUrl)
  const p = new CallrecProvider({ ...options, databaseUrl: relay.url })
  t.teardown(() => p.close())
  // Four look-ups at once: the pool opens all four of its connections.
  t.same((await Promise.all(Array.from({ length: 4 }, () => p.findLegs('D1')))).map((l) => l.length), [1, 1, 1, 1])
  relay.silenceExisting()
  const stuck = await Promise.all(Array.from({ length: 4 }, () => settleWithin(p.findLegs('D1'))))
  t.ok(stuck.every((r) => r.hung === undefined && (r.error as { statusCode?: number }).statusCode !== undefined), 'each ended in an error, none hung')
  t.match(stuck[0]!.error, { statusCode: 504 })
  const next = await settleWithin(p.findLegs('D1'))
  t.same(next.value?.map((l) => l.segments[0]?.id), ['c1'], 'answered over a new connection, not queued behind the silent ones')
})
