import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { Client, request } from 'undici'
import { cxLeg, eleveoLeg, startPushRig } from './push-rig.js'
import { makeHoldCall, startRig } from './recordings-setup.js'

/*
 * GET /metrics as Prometheus scrapes it: the figures move with what clients and the push job did.
 */

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** The samples of a Prometheus text exposition (enough of the format for prom-client's output). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return found?.value
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

async function scrape(base: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await request(`${base}/metrics`, { headers })
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
  return parseMetrics(await res.body.text())
}

const REC = { route: '/recordings/:legId', method: 'GET' }

t.test('requests, latencies, bytes streamed and upstream calls after real retrievals', async (t) => {
  const rig = await startRig(t, { env: { RATE_LIMIT_MAX: '1000' } })
  const call = await makeHoldCall(rig.dir, 'dlg-metrics', {}, [1, 0.5, 1.5])
  rig.sim.legs.push(...call.legs)
  const base = await listen(rig.app)

  const before = await scrape(base)
  t.equal(value(before, 'gateway_http_requests_total', { ...REC, status: '200' }), undefined, 'nothing counted yet')
  t.ok(before.some((s) => s.name === 'process_resident_memory_bytes'), 'Node.js process metrics are there')

  const full = await request(`${base}/recordings/${call.legId}`)
  const fullBytes = Buffer.from(await full.body.arrayBuffer()).length
  t.equal(full.statusCode, 200)
  const part = await request(`${base}/recordings/${call.legId}`, { headers: { range: 'bytes=100-1099' } })
  t.equal(part.statusCode, 206)
  await part.body.dump()
  const missing = await request(`${base}/recordings/no-such-call:1001:123:1700000000000`)
  t.equal(missing.statusCode, 404)
  await missing.body.dump()
  const unknown = await request(`${base}/wp-login.php`)
  t.equal(unknown.statusCode, 404)
  await unknown.body.dump()
  rig.sim.setFault('error500', { dialogId: 'dlg-broken', target: 'metadata' })
  const broken = await request(`${base}/recordings/dlg-broken:1001:123:1700000000000`)
  t.equal(broken.statusCode, 502)
  await broken.body.dump()

  const after = await scrape(base)
  t.equal(value(after, 'gateway_http_requests_total', { ...REC, status: '200' }), 1)
  t.equal(value(after, 'gateway_http_requests_total', { ...REC, status: '206' }), 1)
  t.equal(value(after, 'gateway_http_requests_total', { ...REC, status: '404' }), 1)
  t.equal(value(after, 'gateway_http_requests_total', { ...REC, status: '502' }), 1)
  t.equal(value(after, 'gateway_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1, 'unknown URLs share one series')
  t.notOk(after.some((s) => s.labels.route === '/wp-login.php'), 'no series per unknown URL')
  t.equal(value(after, 'gateway_http_request_duration_seconds_count', { ...REC, status: '200' }), 1)
  t.ok((value(after, 'gateway_http_request_duration_seconds_sum', { ...REC, status: '200' }) ?? -1) > 0, 'a latency was observed')
  t.equal(value(after, 'gateway_recording_bytes_streamed_total', { vendor: 'eleveo' }), fullBytes + 1000, 'bytes streamed = whole file + the range')

  for (const operation of ['findLegs', 'statSegment', 'openSegment']) {
    t.ok((value(after, 'gateway_upstream_request_duration_seconds_count', { vendor: 'eleveo', operation }) ?? 0) > 0, `upstream ${operation} timed`)
  }
  t.equal(value(after, 'gateway_upstream_errors_total', { vendor: 'eleveo', operation: 'findLegs', code: 'GW_ERR_UPSTREAM' }), 1, 'the 500 from Eleveo is an upstream error')
  t.notOk(after.some((s) => s.name === 'gateway_upstream_errors_total' && s.labels.code === 'GW_ERR_LEG_NOT_FOUND'), 'a call Eleveo does not know is not an error')
})

t.test('a stream the client abandons is counted, with the bytes actually sent and no upstream error', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-abandon', {}, [60])
  rig.sim.legs.push(...call.legs)
  const base = await listen(rig.app)

  const client = new Client(base)
  t.teardown(() => client.destroy())
  const res = await client.request({ method: 'GET', path: `/recordings/${call.legId}` })
  const total = Number(res.headers['content-length'])
  for await (const _chunk of res.body) break // first chunk, then hang up
  await client.destroy()

  let samples: Sample[] = []
  const deadline = Date.now() + 10_000
  do {
    samples = await scrape(base)
    if (value(samples, 'gateway_http_requests_total', { ...REC, status: '200' }) === 1) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  } while (Date.now() < deadline)
  t.equal(value(samples, 'gateway_http_requests_total', { ...REC, status: '200' }), 1, 'the abandoned request is counted')
  const sent = value(samples, 'gateway_recording_bytes_streamed_total', { vendor: 'eleveo' }) ?? 0
  t.ok(sent > 0 && sent < total, `only what was sent is counted (${sent} of ${total})`)
  t.notOk(samples.some((s) => s.name === 'gateway_upstream_errors_total'), 'the hang-up is not blamed on Eleveo')
})

t.test('/metrics is never rate limited, and METRICS_TOKEN protects it when set', async (t) => {
  const open = await startRig(t, { env: { RATE_LIMIT_MAX: '1' } })
  const base = await listen(open.app)
  for (let i = 0; i < 4; i++) {
    const res = await request(`${base}/metrics`)
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    await res.body.dump()
  }

  const guarded = await startRig(t, { env: { METRICS_TOKEN: 'scrape-token-0123456789' } })
  const gbase = await listen(guarded.app)
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic c2NyYXBlOnRva2Vu' }]) {
    const res = await request(`${gbase}/metrics`, { headers })
    t.equal(res.statusCode, 401)
    t.match(await res.body.json(), { statusCode: 401, code: 'GW_ERR_UNAUTHORIZED', error: 'Unauthorized' })
  }
  const ok = await request(`${gbase}/metrics`, { headers: { authorization: 'Bearer scrape-token-0123456789' } })
  t.equal(ok.statusCode, 200)
  t.match(await ok.body.text(), /gateway_http_requests_total/)
})

t.test('push job: runs by trigger and status, links pushed and refused, pending legs, cursor lag', async (t) => {
  const b = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
  const rig = await startPushRig(t, {
    activities: [cxLeg('dlg-a', '1001', b), cxLeg('dlg-b', '1002', b + 60_000), cxLeg('dlg-late', '1003', b + 120_000)],
    legs: [eleveoLeg('rec-a', 'dlg-a', '1001', b, b + 30_000), eleveoLeg('rec-b', 'dlg-b', '1002', b + 60_000, b + 90_000)]
  })
  const metrics = async (): Promise<Sample[]> => parseMetrics((await rig.app.inject({ method: 'GET', url: '/metrics' })).body)

  const before = await metrics()
  t.ok(Number.isNaN(value(before, 'gateway_push_cursor_lag_seconds') ?? 0), 'no cursor yet: lag is NaN, not 0')
  t.equal(value(before, 'gateway_pending_legs'), 0)
  t.equal(value(before, 'gateway_links_pushed_total'), 0)

  rig.cx.rejectWhen((m) => m.legId.startsWith('dlg-b:'))
  const report = await rig.run()
  t.equal(report.status, 'ok')
  const after = await metrics()
  t.equal(value(after, 'gateway_push_runs_total', { trigger: 'manual', status: 'ok' }), 1)
  t.equal(value(after, 'gateway_links_pushed_total'), 1, 'dlg-a accepted')
  t.equal(value(after, 'gateway_links_failed_total'), 1, 'dlg-b refused by CX')
  t.equal(value(after, 'gateway_pending_legs'), 1, 'dlg-late waits for its recording')
  const lag = value(after, 'gateway_push_cursor_lag_seconds') ?? NaN
  t.ok(Number.isFinite(lag) && lag >= 0 && lag < 3600, `cursor lag is a number of seconds (${lag})`)

  rig.cx.failNext(1, 500, 'voice-activities')
  const failed = await rig.run()
  t.equal(failed.status, 'failed')
  const last = await metrics()
  t.equal(value(last, 'gateway_push_runs_total', { trigger: 'manual', status: 'failed' }), 1, 'failed runs are counted by status')
  t.equal(value(last, 'gateway_push_runs_total', { trigger: 'manual', status: 'ok' }), 1)
})
