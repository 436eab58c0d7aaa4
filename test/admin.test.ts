import t from 'tap'
import { buildApp } from '../src/app.js'
import { testConfig } from './helpers/gateway-config.js'
import { ADMIN_TOKEN, baseTime, cxLeg, eleveoLeg, startPushRig } from './push-rig.js'

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` }

async function waitForFinish(app: Parameters<typeof poll>[0], id: string): Promise<Record<string, unknown>> {
  return poll(app, id)
}
async function poll(app: { inject: (o: { method: 'GET'; url: string; headers: Record<string, string> }) => Promise<{ json: () => unknown }> }, id: string) {
  for (;;) {
    const body = (await app.inject({ method: 'GET', url: '/admin/push-runs/latest', headers: auth })).json() as Record<string, unknown>
    if (body.id === id && body.status !== 'running') return body
    await new Promise((r) => setTimeout(r, 10))
  }
}

t.test('without ADMIN_TOKEN the admin routes do not exist', async (t) => {
  const rig = await startPushRig(t)
  for (const [method, url] of [
    ['POST', '/admin/push-runs'],
    ['GET', '/admin/push-runs/latest']
  ] as const) {
    const res = await rig.app.inject({ method, url, headers: auth })
    t.equal(res.statusCode, 404)
    t.match(res.json(), { statusCode: 404, error: 'Not Found' })
  }
})

t.test('a missing or wrong bearer answers 401 JSON', async (t) => {
  const rig = await startPushRig(t, { env: { ADMIN_TOKEN } })
  for (const headers of [{}, { authorization: 'Basic YWRtaW46YWRtaW4=' }, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${ADMIN_TOKEN}x` }]) {
    for (const [method, url] of [
      ['POST', '/admin/push-runs'],
      ['GET', '/admin/push-runs/latest']
    ] as const) {
      const res = await rig.app.inject({ method, url, headers })
      t.equal(res.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)}`)
      t.match(res.json(), { statusCode: 401, error: 'Unauthorized', message: String })
      t.match(res.headers['www-authenticate'], /^Bearer/)
    }
  }
  t.equal(rig.cx.requests.length, 0, 'nothing ran')
})

t.test('POST starts a run, GET latest reports it; a second POST while it runs is 409 with its id', async (t) => {
  const b = baseTime()
  const activities = Array.from({ length: 6 }, (_, i) => cxLeg(`M${i}`, '1001', b + i * 1000))
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, '1001', b + i * 1000, b + i * 1000 + 500))
  let release: () => void = () => undefined
  const gate = new Promise<void>((r) => (release = r))
  const rig = await startPushRig(t, {
    activities,
    legs,
    env: { ADMIN_TOKEN, CX_CONCURRENCY: '1' },
    wrapProvider: (p) => ({
      name: p.name,
      matchPolicy: p.matchPolicy,
      // The first look-up waits for the test: the run is certainly still going when the second POST comes.
      findLegs: async (d, s) => {
        if (d === 'M0') await gate
        return p.findLegs(d, s)
      },
      statSegment: (x, n, s) => p.statSegment(x, n, s),
      openSegment: (x, r, s) => p.openSegment(x, r, s),
      describeSegment: (x) => p.describeSegment(x),
      ping: (s) => p.ping(s),
      close: () => p.close()
    })
  })
  const none = await rig.app.inject({ method: 'GET', url: '/admin/push-runs/latest', headers: auth })
  t.equal(none.statusCode, 404)
  t.match(none.json(), { statusCode: 404, message: /No push run/ })

  const started = await rig.app.inject({ method: 'POST', url: '/admin/push-runs', headers: auth })
  t.equal(started.statusCode, 202)
  const { id, trigger, status } = started.json<{ id: string; trigger: string; status: string }>()
  t.match({ trigger, status }, { trigger: 'manual', status: 'running' })

  const live = await rig.app.inject({ method: 'GET', url: '/admin/push-runs/latest', headers: auth })
  t.match(live.json(), { id, status: 'running', trigger: 'manual' })

  const second = await rig.app.inject({ method: 'POST', url: '/admin/push-runs', headers: auth, payload: { start: b - 60_000, end: b } })
  t.equal(second.statusCode, 409)
  t.match(second.json(), { statusCode: 409, error: 'Conflict', runId: id, message: new RegExp(id) })

  release()
  const report = await waitForFinish(rig.app, id)
  t.match(report, {
    id,
    instance: 'test-instance',
    trigger: 'manual',
    status: 'ok',
    error: null,
    calls: 6,
    legs: 6,
    matched: 6,
    pushed: 6,
    pending: 0,
    failed: 0,
    alreadyPushed: 0,
    droppedPending: 0,
    windows: [{ start: String, end: String }],
    windowsDone: 1,
    startedAt: String,
    durationMs: Number
  })

  // A backfill of the same past window: its own trigger, nothing pushed twice.
  const bf = await rig.app.inject({
    method: 'POST',
    url: '/admin/push-runs',
    headers: auth,
    payload: { start: new Date(b - 60_000).toISOString(), end: b + 60_000 }
  })
  t.equal(bf.statusCode, 202)
  const bfId = bf.json<{ id: string }>().id
  const bfReport = await waitForFinish(rig.app, bfId)
  t.match(bfReport, { trigger: 'backfill', status: 'ok', legs: 6, alreadyPushed: 6, pushed: 0 })
  t.same(bfReport.windows, [{ start: new Date(b - 60_000).toISOString(), end: new Date(b + 60_000).toISOString() }])
  t.equal(rig.cx.received.length, 6)

  // The report outlives a restart.
  await rig.restart({ ADMIN_TOKEN })
  const after = await rig.app.inject({ method: 'GET', url: '/admin/push-runs/latest', headers: auth })
  t.match(after.json(), { id: bfId, trigger: 'backfill', status: 'ok' })
})

t.test('backfill bodies are validated: 400 with a reason', async (t) => {
  const rig = await startPushRig(t, { env: { ADMIN_TOKEN } })
  const now = Date.now()
  const cases: [unknown, RegExp][] = [
    [{ start: now - 1000, end: now - 2000 }, /start must be before end/],
    [{ start: now - 1000, end: now - 1000 }, /start must be before end/],
    [{ start: now - 1000, end: now + 3_600_000 }, /end must not be in the future/],
    [{ start: 'yesterday', end: now - 1000 }, /start "yesterday" is neither/],
    [{ start: '2026-13-45T99:00:00Z' }, /start .* is neither/],
    [{ end: now - 1000 }, /needs start/],
    [{ start: now - 1000, until: now }, /unknown field\(s\) "until"/],
    [[now - 1000], /must be a JSON object/],
    [{ start: true }, /start "true" is neither/],
    [{ start: -5 }, /start "-5" is neither/],
    [{ start: 1.5 }, /neither/],
    // Date.parse would read these as 2 March and 1 March.
    [{ start: '2026-02-30T00:00:00Z', end: now - 1000 }, /start "2026-02-30T00:00:00Z" is neither/],
    [{ start: '2025-02-29', end: now - 1000 }, /start "2025-02-29" is neither/],
    [{ start: now - 1000, end: '2025-04-31T10:00Z' }, /end "2025-04-31T10:00Z" is neither/],
    // A slip of the year (or start 0) would hold the run slot for days: at most MAX_BACKFILL_WINDOWS windows.
    [{ start: 0 }, /at most 10000 windows of PUSH_MAX_WINDOW_S \(3600 s\); this one needs \d+/],
    [{ start: '0026-11-24T00:00:00Z', end: now - 1000 }, /at most 10000 windows/],
    [{ start: now - 10_001 * 3_600_000, end: now }, /this one needs 10001:/]
  ]
  for (const [payload, message] of cases) {
    const res = await rig.app.inject({ method: 'POST', url: '/admin/push-runs', headers: auth, payload: payload as object })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message }, JSON.stringify(payload))
  }
  const notJson = await rig.app.inject({
    method: 'POST',
    url: '/admin/push-runs',
    headers: { ...auth, 'content-type': 'application/json' },
    payload: '{"start":'
  })
  t.equal(notJson.statusCode, 400)
  t.equal(rig.cx.requests.length, 0, 'no run started')

  // A real leap day is a date.
  const leap = await rig.app.inject({ method: 'POST', url: '/admin/push-runs', headers: auth, payload: { start: '2024-02-29T00:00:00Z', end: '2024-02-29T01:00:00Z' } })
  t.equal(leap.statusCode, 202, leap.body)
  const leapRun = await waitForFinish(rig.app, leap.json<{ id: string }>().id)
  t.same(leapRun.windows, [{ start: '2024-02-29T00:00:00.000Z', end: '2024-02-29T01:00:00.000Z' }])

  // Epoch milliseconds as digits and ISO with an offset are both fine; end defaults to now.
  const ok = await rig.app.inject({ method: 'POST', url: '/admin/push-runs', headers: auth, payload: { start: String(now - 60_000) } })
  t.equal(ok.statusCode, 202)
  await waitForFinish(rig.app, ok.json<{ id: string }>().id)
  // The same instant written with a +01:00 offset.
  const startUtc = new Date(Math.floor((now - 2 * 3600_000) / 1000) * 1000)
  const withOffset = new Date(startUtc.getTime() + 3600_000).toISOString().replace('.000Z', '+01:00')
  const iso = await rig.app.inject({ method: 'POST', url: '/admin/push-runs', headers: auth, payload: { start: withOffset, end: now - 1 } })
  t.equal(iso.statusCode, 202)
  const r = await waitForFinish(rig.app, iso.json<{ id: string }>().id)
  t.equal((r.windows as { start: string }[])[0]!.start, startUtc.toISOString())
})

t.test('with pushing disabled the admin routes say so', async (t) => {
  const app = await buildApp({
    config: testConfig({ ELEVEO_BASE_URL: 'http://127.0.0.1:9', ADMIN_TOKEN, LOG_LEVEL: 'silent' }),
    logger: false
  })
  t.teardown(() => app.close())
  t.equal(app.pushRunner, null)
  const res = await app.inject({ method: 'POST', url: '/admin/push-runs', headers: auth })
  t.equal(res.statusCode, 409)
  t.match(res.json(), { code: 'GW_ERR_PUSH_DISABLED', message: /CX_BASE_URL is not set/ })
})
