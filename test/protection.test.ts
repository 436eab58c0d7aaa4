import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { request } from 'undici'
import { signLegId } from '../src/auth/link-signature.js'
import { makeHoldCall, startRig } from './recordings-setup.js'

/*
 * Load protection as a client sees it: 503 + Retry-After while a memory or event-loop limit is exceeded (liveness,
 * readiness and metrics still answer), 429 + Retry-After past the per-IP rate limit on /recordings and
 * /admin (health, metrics and docs never limited), all as JSON errors.
 */

interface ErrorBody {
  statusCode: number
  code?: string
  error: string
  message: string
}

const KEY = 'protection-test-signing-key-0123'
const ADMIN = 'protection-admin-token-0123456789'

/** under-pressure samples memory once a second: wait for its first sample (bounded, not a timing assertion). */
async function underPressure(app: FastifyInstance): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!app.isUnderPressure()) {
    if (Date.now() > deadline) throw new Error('under-pressure never reported pressure')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function origin(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

for (const [variable, label] of [
  ['MAX_HEAP_USED_BYTES', 'heap'],
  ['MAX_RSS_BYTES', 'RSS']
] as const) {
  t.test(`${label} above ${variable}: 503 + Retry-After, except liveness, readiness and metrics`, async (t) => {
    const rig = await startRig(t, { env: { [variable]: '1', ADMIN_TOKEN: ADMIN } })
    const call = await makeHoldCall(rig.dir, 'dlg-pressure', {}, [0.5])
    rig.sim.legs.push(...call.legs)
    const base = await origin(rig.app)
    await underPressure(rig.app)

    for (const [method, path, headers] of [
      ['GET', `/recordings/${call.legId}`, {}],
      ['HEAD', `/recordings/${call.legId}`, {}],
      ['GET', '/admin/push-runs/latest', { authorization: `Bearer ${ADMIN}` }],
      ['GET', '/no/such/route', {}]
    ] as const) {
      const res = await request(`${base}${path}`, { method, headers })
      t.equal(res.statusCode, 503, `${method} ${path}: 503`)
      t.equal(res.headers['retry-after'], '5', 'Retry-After')
      t.match(res.headers['content-type'], /^application\/json/)
      if (method === 'GET') {
        t.same(await res.body.json(), {
          statusCode: 503,
          code: 'GW_ERR_OVERLOADED',
          error: 'Service Unavailable',
          message: 'The gateway is overloaded; retry later'
        })
      } else {
        await res.body.dump()
      }
    }
    t.same(rig.sim.requests.filter((r) => r.url.includes('dlg-pressure')), [], 'Eleveo not asked for shed requests')

    const live = await request(`${base}/health/live`)
    t.equal(live.statusCode, 200, 'liveness is never shed')
    t.same(await live.body.json(), { status: 'ok' })

    const ready = await request(`${base}/health/ready`)
    t.equal(ready.statusCode, 503, 'not ready while under pressure')
    const report = (await ready.body.json()) as { status: string; checks: Record<string, { status: string; error?: string }> }
    t.equal(report.checks.pressure?.status, 'failing', 'the pressure check says why')
    t.match(report.checks.pressure?.error, new RegExp(variable))

    const metrics = await request(`${base}/metrics`)
    t.equal(metrics.statusCode, 200, 'metrics are never shed')
    t.match(await metrics.body.text(), /gateway_http_requests_total\{route="\/recordings\/:legId",method="GET",status="503"\} 1/)
  })
}

t.test('event loop further behind than MAX_EVENT_LOOP_DELAY_MS: 503 + Retry-After, liveness still answers', async (t) => {
  const rig = await startRig(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '20' } })
  const call = await makeHoldCall(rig.dir, 'dlg-busy-loop', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  // The test itself keeps the loop busy in 100 ms stretches, so every timer fires ~100 ms late whatever the
  // machine: the delay is far above the 20 ms limit on a fast machine and only larger on a slow one.
  let busy = true
  const hog = (): void => {
    if (!busy) return
    const until = Date.now() + 100
    while (Date.now() < until);
    setImmediate(hog)
  }
  t.teardown(() => {
    busy = false
  })
  hog()
  await underPressure(rig.app)

  const shed = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })
  t.equal(shed.statusCode, 503)
  t.equal(shed.headers['retry-after'], '5')
  t.match(shed.json<ErrorBody>(), { statusCode: 503, code: 'GW_ERR_OVERLOADED' })
  t.same(rig.sim.requests.filter((r) => r.url.includes('dlg-busy-loop')), [], 'Eleveo not asked')
  t.equal((await rig.app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'liveness is never shed')
  const ready = await rig.app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.match(ready.json<{ checks: Record<string, { error?: string }> }>().checks.pressure?.error, /event loop (delay \d+ ms|blocked for a whole 1 s sample) > MAX_EVENT_LOOP_DELAY_MS 20/)
  busy = false
})

t.test('limits at 0 are off: nothing is shed', async (t) => {
  const rig = await startRig(t, { env: { MAX_HEAP_USED_BYTES: '0', MAX_RSS_BYTES: '0', MAX_EVENT_LOOP_DELAY_MS: '0' } })
  t.equal(rig.app.isUnderPressure(), false)
  const call = await makeHoldCall(rig.dir, 'dlg-unlimited', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  t.equal((await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })).statusCode, 200)
})

t.test('rate limit: RATE_LIMIT_MAX per client IP on /recordings, then 429 + Retry-After before any upstream call', async (t) => {
  const rig = await startRig(t, { env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000', LINK_SIGNING_KEY: KEY } })
  const call = await makeHoldCall(rig.dir, 'dlg-limit', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${encodeURIComponent(call.legId)}?sig=${signLegId(call.legId, KEY)}`
  const base = await origin(rig.app)

  for (let i = 0; i < 3; i++) {
    const res = await request(`${base}${url}`)
    t.equal(res.statusCode, 200, `request ${i + 1} served`)
    t.equal(res.headers['x-ratelimit-remaining'], String(2 - i))
    await res.body.dump()
  }
  const before = rig.sim.requests.length
  const limited = await request(`${base}${url}`)
  t.equal(limited.statusCode, 429)
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After in seconds (${retryAfter})`)
  const body = (await limited.body.json()) as ErrorBody
  t.match(body, { statusCode: 429, code: 'GW_ERR_RATE_LIMITED', error: 'Too Many Requests' })
  t.match(body.message, /at most 3 per 1 min/)
  t.equal(rig.sim.requests.length, before, 'Eleveo not asked')

  const guess = await request(`${base}/recordings/${encodeURIComponent(call.legId)}?sig=guessing`)
  t.equal(guess.statusCode, 429, 'guessing signatures is rate limited too (429, not 403)')
  await guess.body.dump()

  for (const path of ['/health/live', '/health/ready', '/metrics', '/openapi.json', '/openapi.yaml']) {
    for (let i = 0; i < 5; i++) {
      const res = await request(`${base}${path}`)
      t.not(res.statusCode, 429, `${path} is never rate limited`)
      await res.body.dump()
    }
  }
})

t.test('rate limit on /admin, per client IP; TRUST_PROXY decides which IP that is', async (t) => {
  const rig = await startRig(t, { env: { RATE_LIMIT_MAX: '2', ADMIN_TOKEN: ADMIN } })
  const admin = (remoteAddress: string, xff?: string) =>
    rig.app.inject({
      method: 'GET',
      url: '/admin/push-runs/latest',
      remoteAddress,
      headers: { authorization: `Bearer ${ADMIN}`, ...(xff ? { 'x-forwarded-for': xff } : {}) }
    })
  t.not((await admin('10.0.0.1')).statusCode, 429)
  t.not((await admin('10.0.0.1')).statusCode, 429)
  const third = await admin('10.0.0.1')
  t.equal(third.statusCode, 429, '/admin is limited')
  t.equal(third.json<ErrorBody>().code, 'GW_ERR_RATE_LIMITED')
  t.not((await admin('10.0.0.2')).statusCode, 429, 'another client has its own budget')
  t.equal((await admin('10.0.0.1', '203.0.113.9')).statusCode, 429, 'without TRUST_PROXY, X-Forwarded-For is not believed')

  const proxied = await startRig(t, { env: { RATE_LIMIT_MAX: '1', ADMIN_TOKEN: ADMIN, TRUST_PROXY: '10.0.0.0/8' } })
  const viaLb = (client: string) =>
    proxied.app.inject({
      method: 'GET',
      url: '/admin/push-runs/latest',
      remoteAddress: '10.1.1.1',
      headers: { authorization: `Bearer ${ADMIN}`, 'x-forwarded-for': client }
    })
  t.not((await viaLb('203.0.113.1')).statusCode, 429)
  t.equal((await viaLb('203.0.113.1')).statusCode, 429, 'the client behind the load balancer is limited')
  t.not((await viaLb('203.0.113.2')).statusCode, 429, 'other clients behind the same load balancer are not')
})
