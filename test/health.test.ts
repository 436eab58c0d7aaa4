import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client, request } from 'undici'
import { buildApp } from '../src/app.js'
import { gatewayConfig, makeHoldCall, startRig } from './recordings-setup.js'

/*
 * /health/live and /health/ready over real sockets: readiness comes from checks run in the background
 * (Eleveo's reachability, checks other plugins add), a probe only reads their last results.
 */

interface CheckResult {
  status: 'ok' | 'failing' | 'pending'
  checkedAt?: string
  durationMs?: number
  error?: string
}
interface HealthReport {
  status: string
  checks: Record<string, CheckResult>
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

async function ready(origin: string): Promise<{ status: number; body: HealthReport; retryAfter: unknown }> {
  const res = await request(`${origin}/health/ready`)
  return { status: res.statusCode, body: (await res.body.json()) as HealthReport, retryAfter: res.headers['retry-after'] }
}

/** Polls until the probe gives `status`: the background loop decides when, the test only waits for it. */
async function readyBecomes(origin: string, status: number): Promise<HealthReport> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const r = await ready(origin)
    if (r.status === status) return r.body
    if (Date.now() > deadline) throw new Error(`/health/ready stayed ${r.status} (${JSON.stringify(r.body)}), expected ${status}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const pings = (rig: { sim: { requests: { url: string }[] } }): number =>
  rig.sim.requests.filter((r) => r.url.startsWith('/api/recordings?dialogId=cx-recording-gateway-ping')).length

t.test('live answers 200 {status: ok}, never rate limited', async (t) => {
  const rig = await startRig(t, { env: { RATE_LIMIT_MAX: '1' } })
  const origin = await listen(rig.app)
  for (let i = 0; i < 5; i++) {
    const res = await request(`${origin}/health/live`)
    t.equal(res.statusCode, 200)
    t.same(await res.body.json(), { status: 'ok' })
  }
  const head = await request(`${origin}/health/live`, { method: 'HEAD' })
  t.equal(head.statusCode, 200, 'HEAD too')
  await head.body.dump()
})

t.test('ready: 503 starting before the first check, 200 after; probes never reach Eleveo', async (t) => {
  const rig = await startRig(t, { env: { HEALTH_CHECK_INTERVAL_MS: '600000' } })

  // Not listening yet: nothing has checked Eleveo.
  const before = await rig.app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(before.statusCode, 503)
  t.equal(before.headers['retry-after'], '5')
  t.match(before.json<HealthReport>(), { status: 'starting', checks: { vendor: { status: 'pending' }, pressure: { status: 'ok' } } })
  t.equal(pings(rig), 0, 'an app that does not listen sends no background requests')

  const origin = await listen(rig.app)
  const body = await readyBecomes(origin, 200)
  t.equal(body.status, 'ok')
  t.equal(body.checks.vendor?.status, 'ok')
  t.type(body.checks.vendor?.checkedAt, 'string')
  t.type(body.checks.vendor?.durationMs, 'number')
  t.equal(pings(rig), 1, 'one background check')

  for (let i = 0; i < 20; i++) t.equal((await ready(origin)).status, 200)
  t.equal(pings(rig), 1, 'twenty probes later, still one request to Eleveo')
})

t.test('ready follows the vendor: 503 naming the failing check, 200 again once it recovers', async (t) => {
  const rig = await startRig(t, { env: { HEALTH_CHECK_INTERVAL_MS: '100', ELEVEO_TIMEOUT_MS: '300' }, sim: { slowMs: 5000 } })
  const origin = await listen(rig.app)
  await readyBecomes(origin, 200)

  rig.sim.setFault('error500', { target: 'metadata' })
  const down = await readyBecomes(origin, 503)
  t.equal(down.status, 'unavailable')
  t.equal(down.checks.vendor?.status, 'failing')
  t.match(down.checks.vendor?.error, /HTTP 500/)
  t.equal(down.checks.pressure?.status, 'ok', 'only the vendor fails')
  t.equal((await ready(origin)).retryAfter, '5')

  rig.sim.setFault(null)
  t.equal((await readyBecomes(origin, 200)).checks.vendor?.status, 'ok', 'recovered')

  rig.sim.setFault('slow', { target: 'metadata' })
  const slow = await readyBecomes(origin, 503)
  t.match(slow.checks.vendor?.error, /timed out|no answer within/, 'a vendor that does not answer fails the check')
  rig.sim.setFault(null)
  await readyBecomes(origin, 200)

  await rig.sim.close()
  const gone = await readyBecomes(origin, 503)
  t.equal(gone.checks.vendor?.status, 'failing', 'Eleveo unreachable')
  t.notMatch(gone.checks.vendor?.error ?? '', /eleveo-secret/, 'no credentials in the report')
})

t.test('other plugins add checks: app.readiness.add, before or after the loop started', async (t) => {
  const rig = await startRig(t, { env: { HEALTH_CHECK_INTERVAL_MS: '600000' } })
  let extraCalls = 0
  rig.app.readiness.add('extra', async (signal) => {
    extraCalls++
    t.type(signal, AbortSignal, 'checks get an abort signal')
  })
  t.throws(() => rig.app.readiness.add('extra', async () => undefined), /already registered/, 'names are unique')
  t.throws(() => rig.app.readiness.add('vendor', async () => undefined), /already registered/)

  const origin = await listen(rig.app)
  const ok = await readyBecomes(origin, 200)
  t.same(Object.keys(ok.checks).sort(), ['extra', 'pressure', 'vendor'])
  t.equal(extraCalls, 1)

  // Added while running (as the PostgreSQL store does at onReady): it runs at once, not an interval later.
  rig.app.readiness.add('state', async () => {
    throw new Error('state database: connection refused')
  })
  const down = await readyBecomes(origin, 503)
  t.match(down, { status: 'unavailable', checks: { state: { status: 'failing', error: 'state database: connection refused' }, vendor: { status: 'ok' } } })
})

t.test('credentials in a check error are masked', async (t) => {
  const rig = await startRig(t, { env: { HEALTH_CHECK_INTERVAL_MS: '600000' } })
  rig.app.readiness.add('db', async () => {
    throw new Error('cannot reach postgres://gateway:hunter2-secret@db.example.com:5432/state')
  })
  const origin = await listen(rig.app)
  const body = await readyBecomes(origin, 503)
  t.equal(body.checks.db?.error, 'cannot reach postgres://***@db.example.com:5432/state')
})

t.test('closing: the listener stops accepting, a stream in flight completes, ready says shutting_down', async (t) => {
  const rig = await startRig(t, { env: { HEALTH_CHECK_INTERVAL_MS: '600000' } })
  const call = await makeHoldCall(rig.dir, 'dlg-drain', {}, [60])
  rig.sim.legs.push(...call.legs)
  const origin = await listen(rig.app)
  await readyBecomes(origin, 200)

  const client = new Client(origin)
  t.teardown(() => client.close())
  const stream = await client.request({ method: 'GET', path: `/recordings/${call.legId}` })
  t.equal(stream.statusCode, 200)
  const total = Number(stream.headers['content-length'])

  const closed = rig.app.close()
  // preClose runs a few ticks into close(), before the listener is closed.
  for (let i = 0; i < 100 && rig.app.readiness.report().status !== 'shutting_down'; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(rig.app.readiness.report().status, 'shutting_down', 'readiness turns 503 as closing starts')
  await t.rejects(request(`${origin}/health/live`), { code: 'ECONNREFUSED' }, 'no new connections')

  let received = 0
  for await (const chunk of stream.body) received += (chunk as Buffer).length
  t.equal(received, total, 'the stream in flight ran to its end')
  // A connection whose stream ended during the drain must not hold the shutdown until Node's keep-alive
  // timeout (72 s). Bounded from the stream's end, so a slow set-up does not count against it.
  const outcome = await Promise.race([closed.then(() => 'closed'), sleep(30_000, 'held by the idle connection', { ref: false })])
  t.equal(outcome, 'closed', 'close() finishes once the last stream has')
})

t.test('a gateway built without listening reports starting, never ok', async (t) => {
  const rig = await startRig(t)
  const app = await buildApp({ config: gatewayConfig(rig.sim.url), logger: false })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(res.statusCode, 503)
  t.equal(res.json<HealthReport>().status, 'starting')
})
