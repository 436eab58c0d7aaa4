import { join } from 'node:path'
import t, { type Test } from 'tap'
import { PUSH_LOCK_KEY } from '../src/state/pg-leadership.js'
import type { PushRunReport } from '../src/state/types.js'
import type { RecordingProvider } from '../src/providers/types.js'
import { startPostgres } from './helpers/postgres.js'
import { makeTone, tempDir } from './helpers/sox.js'
import { inspect, isEmptyDir, receivedFrom, startInstance, until, type Instance, type InstanceOptions } from './helpers/multi-instance.js'
import { CX_SECRETS, ELEVEO_PASSWORD, cxLeg, eleveoLeg, legIdOf } from './push-rig.js'
import { startCxSimulator, type CxSimulator, type CxSimulatorOptions, type SimVoiceActivity } from '../simulators/cx.js'
import { startEleveoSimulator, type EleveoSimulator, type SimEleveoLeg } from '../simulators/eleveo.js'

/*
 * Two gateway instances (two apps built the way production builds them) behind one PostgreSQL state
 * database, with the CX and Eleveo simulators on real sockets: one push leader at a time, every link
 * pushed exactly once, a leader that loses its lock stops and the other one finishes, every instance
 * serves recordings throughout.
 */

const S = 1000
const MIN = 60 * S

const pg = await startPostgres()
t.teardown(() => pg.close())
let dbCount = 0

interface Cluster {
  url: string
  cx: CxSimulator
  eleveo: EleveoSimulator
  sql: ReturnType<typeof inspect>
  wav: string
}

async function cluster(t: Test, activities: SimVoiceActivity[], legs: SimEleveoLeg[], cxSim: CxSimulatorOptions = {}): Promise<Cluster> {
  const url = await pg.createDatabase(`multi_${++dbCount}`)
  const dir = await tempDir(t, 'cxgw-multi-wav-')
  const wav = await makeTone(join(dir, 'leg.wav'), { seconds: 0.5, freq: 550 })
  const cx = await startCxSimulator({ clientSecret: CX_SECRETS.clientSecret, password: CX_SECRETS.password, ...cxSim, activities })
  t.teardown(() => cx.close())
  const eleveo = await startEleveoSimulator({ password: ELEVEO_PASSWORD, legs: legs.map((l) => ({ ...l, wavPath: wav })) })
  t.teardown(() => eleveo.close())
  return { url, cx, eleveo, sql: inspect(t, url), wav }
}

function instance(t: Test, c: Cluster, id: string, opts: InstanceOptions = {}): Promise<Instance> {
  return startInstance(t, c, c.url, id, opts)
}

/** One single-leg call per start time, with its recording. */
function calls(prefix: string, starts: number[]): { activities: SimVoiceActivity[]; legs: SimEleveoLeg[] } {
  const activities = starts.map((s, i) => cxLeg(`${prefix}${i}`, String(2000 + (i % 50)), s))
  const legs = activities.map((a, i) => eleveoLeg(`${prefix}-e${i}`, a.dialogId, a.agentExtension, Date.parse(a.legStartTime) + 200, Date.parse(a.legStartTime) + 20 * S))
  return { activities, legs }
}

function pastStart(): number {
  return Math.floor((Date.now() - 40 * MIN) / S) * S
}

async function latest(i: Instance): Promise<PushRunReport> {
  const res = await i.admin('GET', '/admin/push-runs/latest')
  if (res.statusCode !== 200) throw new Error(`latest on ${i.id}: ${res.statusCode} ${res.body}`)
  return res.json<PushRunReport>()
}

/** POST /admin/push-runs, then the run's final report (read from the instance that ran it). */
async function manualRun(i: Instance): Promise<PushRunReport> {
  const res = await i.admin('POST', '/admin/push-runs')
  if (res.statusCode !== 202) throw new Error(`POST on ${i.id}: ${res.statusCode} ${res.body}`)
  const { id } = res.json<{ id: string }>()
  let report: PushRunReport | null = null
  await until(async () => {
    const r = await latest(i)
    if (r.id === id && r.status !== 'running') report = r
    return report !== null
  }, `run ${id} on ${i.id}`)
  return report!
}

interface Readiness {
  status: number
  checks: Record<string, { status: string; error?: string }>
}

/** /health/ready once `cond` holds for it (the checks run in the background every HEALTH_CHECK_INTERVAL_MS). */
async function readiness(i: Instance, cond: (r: Readiness) => boolean): Promise<Readiness> {
  let last: Readiness | null = null
  try {
    await until(async () => {
      const res = await i.app.inject({ method: 'GET', url: '/health/ready' })
      last = { status: res.statusCode, checks: res.json<{ checks: Readiness['checks'] }>().checks }
      return cond(last)
    }, `/health/ready on ${i.id}`, 20_000)
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answer ${JSON.stringify(last)}`)
  }
  return last!
}

function everyLinkOnce(t: Test, cx: CxSimulator, activities: SimVoiceActivity[]): void {
  const counts = cx.countsById()
  t.same(new Set(cx.received.map((r) => r.legId)), new Set(activities.map(legIdOf)), `all ${activities.length} legs linked`)
  t.same(
    [...counts].filter(([, n]) => n > 1),
    [],
    'none twice'
  )
}

/** Holds findLegs of a provider until `release()`; `entered` resolves when the first call is held. */
function holdable(): { wrap: (p: RecordingProvider) => RecordingProvider; release: () => void; entered: Promise<void> } {
  let release: () => void = () => undefined
  const gate = new Promise<void>((r) => (release = r))
  let enter: () => void = () => undefined
  const entered = new Promise<void>((r) => (enter = r))
  const wrap = (p: RecordingProvider): RecordingProvider =>
    new Proxy(p, {
      get(target, prop) {
        if (prop === 'findLegs') {
          return async (dialogId: string, signal?: AbortSignal) => {
            enter()
            await gate
            return target.findLegs(dialogId, signal)
          }
        }
        const v: unknown = Reflect.get(target, prop, target)
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      }
    })
  return { wrap, release, entered }
}

t.test('two instances ticking every second: every link pushed exactly once; both serve recordings', async (t) => {
  const b = pastStart()
  const past = calls('P', Array.from({ length: 24 }, (_, i) => b + i * 10 * S))
  // Legs that CX and Eleveo only know of later: they fall into the windows of later ticks.
  const soon = Date.now()
  const later = calls('F', [2, 2, 4, 4, 6, 6].map((s, i) => soon + s * S + i))
  const activities = [...past.activities, ...later.activities]
  const c = await cluster(t, activities, [...past.legs, ...later.legs], { latencyMs: 5 })

  // Both start at once on an empty database: the migrations are serialized, neither fails.
  const env = { PUSH_INTERVAL_S: '1' }
  const [a, bb] = await Promise.all([instance(t, c, 'gw-a', { env }), instance(t, c, 'gw-b', { env })])

  await until(() => c.cx.countsById().size === activities.length, 'every link')
  // More ticks after the last link: nobody pushes anything again.
  const reports = async (): Promise<number> => (await c.sql<Array<{ n: number }>>`select count(*)::int as n from push_run_reports`)[0]!.n
  const before = await reports()
  await until(async () => (await reports()) >= before + 3, 'three more runs')
  everyLinkOnce(t, c.cx, activities)
  t.equal(c.cx.received.length, activities.length, 'CX received exactly one message per leg')

  const runs = await c.sql<Array<{ instance: string; status: string }>>`select instance, status from push_run_reports`
  t.ok(runs.length >= 4, `${runs.length} runs`)
  t.same(new Set(runs.map((r) => r.status)), new Set(['ok']), 'every run ok: a tick that found the lock taken was skipped, not failed')
  t.ok(
    runs.every((r) => r.instance === 'gw-a' || r.instance === 'gw-b'),
    'each report names the instance that ran it'
  )
  const ledger = await c.sql<Array<{ n: number }>>`select count(*)::int as n from push_ledger`
  t.equal(ledger[0]!.n, activities.length)

  for (const i of [a, bb]) {
    const r = await latest(i)
    t.match(r.instance, /^gw-[ab]$/, `latest on ${i.id} names an instance`)
    t.ok(await isEmptyDir(i.stateDir), `${i.id} wrote nothing to STATE_DIR`)
  }

  // Retrieval is stateless: every instance serves every leg, whoever pushed its link.
  const legId = legIdOf(activities[3]!)
  const got = await Promise.all([a, bb].map((i) => i.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legId)}` })))
  for (const res of got) {
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'audio/wav')
  }
  t.ok(got[0]!.rawPayload.equals(got[1]!.rawPayload), 'the same bytes from both instances')

  for (const i of [a, bb]) {
    const ready = await readiness(i, (r) => r.status === 200)
    t.equal(ready.checks.state?.status, 'ok', `${i.id}: /health/ready includes the state database`)
  }
})

t.test('a manual run on the instance that is not leading answers 409; the report is shared', async (t) => {
  const { activities, legs } = calls('M', Array.from({ length: 6 }, (_, i) => pastStart() + i * S))
  const c = await cluster(t, activities, legs)
  const hold = holdable()
  const a = await instance(t, c, 'gw-a', { wrapProvider: hold.wrap })
  const b = await instance(t, c, 'gw-b')

  const started = await a.admin('POST', '/admin/push-runs')
  t.equal(started.statusCode, 202, 'A leads')
  const runId = started.json<{ id: string }>().id
  await hold.entered

  const refused = await b.admin('POST', '/admin/push-runs')
  t.equal(refused.statusCode, 409)
  t.same(refused.json(), {
    statusCode: 409,
    code: 'GW_ERR_PUSH_NOT_LEADER',
    error: 'Conflict',
    message: 'Another instance is running the push job; try again when it has finished'
  })
  const backfill = await b.admin('POST', '/admin/push-runs', { start: pastStart() - MIN })
  t.equal(backfill.statusCode, 409, 'a backfill too')
  t.equal((await a.admin('POST', '/admin/push-runs')).json<{ code: string }>().code, 'GW_ERR_PUSH_RUN_IN_PROGRESS', 'on A itself: its own run')
  t.match(await latest(a), { id: runId, instance: 'gw-a', status: 'running' })
  t.equal(c.cx.received.length, 0, 'B pushed nothing')

  hold.release()
  await until(async () => (await latest(a)).status !== 'running', 'the end of A\'s run')
  const done = await latest(a)
  t.match(done, { id: runId, instance: 'gw-a', status: 'ok', pushed: 6 })
  t.same(await latest(b), done, 'B reports the run A made (shared state)')

  const second = await manualRun(b)
  t.match(second, { instance: 'gw-b', status: 'ok', pushed: 0 })
  t.same(await latest(a), second, 'and A the one B made')
  everyLinkOnce(t, c.cx, activities)
})

t.test('the leader\'s lock session terminated mid-run: it stops before its next message, the other instance completes the window', async (t) => {
  const { activities, legs } = calls('T', Array.from({ length: 30 }, (_, i) => pastStart() + i * S))
  const CONCURRENCY = 2
  // A holder, not a variable: the callback sets it, and TypeScript does not see assignments in callbacks.
  const kill: { terminating: Promise<unknown> | null } = { terminating: null }
  let atLoss: number | null = null
  const c: Cluster = await cluster(t, activities, legs, {
    latencyMs: 10,
    onAccept: () => {
      if (kill.terminating === null && receivedFrom(c.cx, 'gw-a').length === 10) {
        // An operator (or a failover) ends the session holding the push lock.
        // execute(): postgres.js sends a query only once it is awaited or executed.
        kill.terminating = c.sql`
          select pg_terminate_backend(pid) from pg_locks
          where locktype = 'advisory' and granted and ((classid::bigint << 32) | objid::bigint) = ${PUSH_LOCK_KEY}::bigint`.execute()
      }
    }
  })
  const env = { CX_CONCURRENCY: String(CONCURRENCY) }
  const a = await instance(t, c, 'gw-a', {
    env,
    onLog: (line) => {
      if (atLoss === null && String(line.msg).startsWith('push leadership lost')) atLoss = receivedFrom(c.cx, 'gw-a').length
    }
  })
  const b = await instance(t, c, 'gw-b', { env })

  const first = await manualRun(a)
  t.match(first, { instance: 'gw-a', status: 'failed', error: /^aborted: push leadership lost: the lock session closed/ })
  t.ok(kill.terminating !== null, 'the session was terminated mid-run')
  await kill.terminating
  const fromA = receivedFrom(c.cx, 'gw-a')
  t.ok(fromA.length < activities.length, `A stopped: ${fromA.length} of ${activities.length} links`)
  t.ok(atLoss !== null, 'A noticed the loss')
  t.ok(
    fromA.length - atLoss! <= CONCURRENCY,
    `after noticing, only the messages already on the wire arrived (${fromA.length - atLoss!}, CX_CONCURRENCY=${CONCURRENCY})`
  )
  const ledgerA = await c.sql<Array<{ leg_id: string }>>`select leg_id from push_ledger where instance = 'gw-a'`
  t.same(new Set(ledgerA.map((r) => r.leg_id)), new Set(fromA.map((r) => r.legId)), 'every message CX accepted from A is in the ledger, even those answered after the loss')
  t.same(await c.sql`select cursor_ms from push_cursor`, [], 'the window was not completed: no cursor')

  const second = await manualRun(b)
  t.match(second, { instance: 'gw-b', status: 'ok', pushed: activities.length - fromA.length, alreadyPushed: fromA.length })
  everyLinkOnce(t, c.cx, activities)
  const [cursor] = await c.sql<Array<{ cursor: number }>>`select cursor_ms::float8 as cursor from push_cursor`
  t.ok(cursor !== undefined && cursor.cursor > Date.parse(activities.at(-1)!.legStartTime), 'B moved the cursor past the window')
})

t.test('the state database restarting between runs: runs refused meanwhile (503), recordings still served, then on', async (t) => {
  const first = calls('R', Array.from({ length: 8 }, (_, i) => pastStart() + i * S))
  const c = await cluster(t, first.activities, first.legs)
  const a = await instance(t, c, 'gw-a')
  const b = await instance(t, c, 'gw-b')
  t.match(await manualRun(a), { status: 'ok', pushed: 8 })

  await pg.stop()
  let up = false
  t.teardown(async () => {
    if (!up) await pg.start()
  })
  const refused = await b.admin('POST', '/admin/push-runs')
  t.equal(refused.statusCode, 503)
  t.match(refused.json(), { code: 'GW_ERR_PUSH_LOCK_UNAVAILABLE', message: /^could not take the push lock: state database: / })
  const legId = legIdOf(first.activities[0]!)
  for (const i of [a, b]) {
    const res = await i.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legId)}` })
    t.equal(res.statusCode, 200, `${i.id} still serves recordings`)
    const down = await readiness(i, (r) => r.status === 503 && r.checks.state?.status === 'failing')
    t.match(down.checks.state, { status: 'failing', error: /^state database: / }, `${i.id} not ready while the state database is down`)
  }

  await pg.start()
  up = true
  // New calls after the cursor.
  const more = calls('N', [Date.now() + 20, Date.now() + 21])
  c.cx.activities.push(...more.activities)
  c.eleveo.legs.push(...more.legs.map((l) => ({ ...l, wavPath: c.wav })))
  await until(() => Date.now() > Date.parse(more.activities[1]!.legStartTime) + 5, 'the new calls to be in the past')
  t.match(await manualRun(b), { instance: 'gw-b', status: 'ok', pushed: 2 }, 'the pools reconnected by themselves')
  everyLinkOnce(t, c.cx, [...first.activities, ...more.activities])
  for (const i of [a, b]) t.equal((await readiness(i, (r) => r.status === 200)).checks.state?.status, 'ok', `${i.id} ready again`)
})
