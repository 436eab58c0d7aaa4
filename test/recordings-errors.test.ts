import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { buildApp } from '../src/app.js'
import { makeTone } from './helpers/sox.js'
import { audioRequests, clientRequests, gatewayConfig, iso, makeHoldCall, metadataRequests, startRig, T0 } from './recordings-setup.js'
import { eventually } from './helpers/eventually.js'

interface ErrorBody {
  statusCode: number
  code?: string
  error: string
  message: string
}

t.test('malformed leg IDs: 400 naming what is wrong, before Eleveo is asked', async (t) => {
  const rig = await startRig(t)
  const cases: { legId: string; says: RegExp }[] = [
    { legId: 'dlg:1001:123', says: /4 parts.*got 3 parts/ },
    { legId: 'dlg:1001:123:456:789', says: /got 5 parts/ },
    { legId: 'dlg:1001:123:yesterday', says: /legStartTime "yesterday" is not epoch milliseconds/ },
    { legId: 'dlg:1001:123:12.5', says: /legStartTime/ },
    { legId: 'a..b:1001:123:1700000000000', says: /dialogId "a\.\.b" contains "\.\."/ },
    { legId: '..:1001:123:1700000000000', says: /dialogId/ },
    { legId: 'dlg%2F..%2Fetc:1001:123:1700000000000', says: /dialogId "dlg\/\.\.\/etc" contains characters other than/ },
    { legId: 'dlg:1001%2F:123:1700000000000', says: /agentExtension "1001\/" contains characters/ },
    { legId: ':1001:123:1700000000000', says: /dialogId is empty/ },
    { legId: 'dlg::123:1700000000000', says: /agentExtension is empty/ },
    { legId: 'dlg%ZZ%3A1:2:3', says: /not a valid url component/ }
  ]
  for (const c of cases) {
    const res = await rig.app.inject({ method: 'GET', url: `/recordings/${c.legId}` })
    t.equal(res.statusCode, 400, `${c.legId}: 400`)
    const body = res.json<ErrorBody>()
    t.equal(body.statusCode, 400)
    t.equal(body.error, 'Bad Request')
    // Fastify's router rejects invalid percent-encoding itself, before our route runs.
    t.equal(body.code, c.legId.includes('%ZZ') ? 'FST_ERR_BAD_URL' : 'GW_ERR_BAD_LEG_ID')
    t.match(body.message, c.says, `${c.legId}: ${body.message}`)
  }
  t.same(clientRequests(rig.sim), [], 'Eleveo was never asked')
})

t.test('no call, no leg: 404 naming the dialogId', async (t) => {
  const rig = await startRig(t)
  const res = await rig.app.inject({ method: 'GET', url: `/recordings/unknown-call:1001:123:${T0}` })
  t.equal(res.statusCode, 404)
  const body = res.json<ErrorBody>()
  t.equal(body.error, 'Not Found')
  t.match(body.message, /No recording exists for dialogId unknown-call/)

  const head = await rig.app.inject({ method: 'HEAD', url: `/recordings/unknown-call:1001:123:${T0}` })
  t.equal(head.statusCode, 404, 'HEAD too')

  const route = await rig.app.inject({ method: 'GET', url: '/no/such/route?sig=abc' })
  t.equal(route.statusCode, 404)
  t.match(route.json<ErrorBody>(), { statusCode: 404, error: 'Not Found', message: 'Route GET /no/such/route not found' })
})

t.test('Eleveo failing: 502 or 504 naming the upstream, as JSON, before any audio byte', async (t) => {
  const rig = await startRig(t, { env: { ELEVEO_TIMEOUT_MS: '300' }, sim: { slowMs: 5000 } })
  const call = await makeHoldCall(rig.dir, 'dlg-fail', {}, [1, 1, 1])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`

  const cases: { fault: 'error500' | 'garbage' | 'slow' | 'truncated'; target: 'metadata' | 'audio'; status: number; says: RegExp }[] = [
    { fault: 'error500', target: 'metadata', status: 502, says: /^Upstream eleveo: recordings of dialog dlg-fail: answered HTTP 500/ },
    { fault: 'garbage', target: 'metadata', status: 502, says: /^Upstream eleveo: .*not JSON/ },
    { fault: 'truncated', target: 'metadata', status: 502, says: /^Upstream eleveo: .*cut/ },
    { fault: 'slow', target: 'metadata', status: 504, says: /^Upstream eleveo timed out: recordings of dialog dlg-fail: no (complete )?answer within 300 ms/ },
    { fault: 'error500', target: 'audio', status: 502, says: /^Upstream eleveo: audio of recording dlg-fail-rec-0: answered HTTP 500/ },
    { fault: 'garbage', target: 'audio', status: 502, says: /^Upstream eleveo returned an unreadable WAV: segment dlg-fail-rec-0/ },
    { fault: 'slow', target: 'audio', status: 504, says: /^Upstream eleveo timed out: audio of recording/ }
  ]
  for (const c of cases) {
    rig.sim.setFault(c.fault, { target: c.target })
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await rig.app.inject({ method, url })
      t.equal(res.statusCode, c.status, `${c.fault} ${c.target} ${method}: ${c.status}`)
      t.not(res.headers['content-type'], 'audio/wav', `${c.fault} ${c.target} ${method}: no audio headers`)
      if (method === 'GET') {
        const body = res.json<ErrorBody>()
        t.equal(body.statusCode, c.status)
        t.match(body.message, c.says, `${c.fault} ${c.target}: ${body.message}`)
        t.notMatch(res.body, /at .*\.ts:\d+/, 'no stack trace')
      }
    }
    rig.sim.setFault(null)
  }

  const ok = await rig.app.inject({ method: 'GET', url })
  t.equal(ok.statusCode, 200, 'failures are not cached: Eleveo is asked again and the leg is served')
})

t.test('segments of different formats: 502 naming both formats, before any body byte', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-mix', {}, [1, 1])
  const odd = join(rig.dir, 'odd.wav')
  await makeTone(odd, { seconds: 1, rate: 16000, channels: 1, encoding: 'pcm16' })
  rig.sim.legs.push({ ...(call.legs[0] as (typeof call.legs)[0]) }, { ...(call.legs[1] as (typeof call.legs)[0]), wavPath: odd })
  for (const method of ['GET', 'HEAD'] as const) {
    const res = await rig.app.inject({ method, url: `/recordings/${call.legId}` })
    t.equal(res.statusCode, 502)
    if (method === 'GET') {
      const body = res.json<ErrorBody>()
      t.equal(body.code, 'GW_ERR_FORMAT_MISMATCH')
      t.match(body.message, /8000 Hz.*vs.*16000 Hz/)
    }
  }
  t.ok(audioRequests(rig.sim).every((r) => r.range === 'bytes=0-4095'), 'only header probes (4 KiB) were fetched')
})

t.test('Eleveo unreachable: 503 with Retry-After; rejecting our credentials: 502; both naming it', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      s.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
  const down = await buildApp({ config: gatewayConfig(`http://127.0.0.1:${port}`), logger: false })
  t.teardown(() => down.close())
  const res = await down.inject({ method: 'GET', url: `/recordings/dlg:1001:1:${T0}` })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  t.match(res.json<ErrorBody>(), { code: 'GW_ERR_UPSTREAM_UNREACHABLE' })
  t.match(res.json<ErrorBody>().message, /^Upstream eleveo: recordings of dialog dlg: cannot connect \(ECONNREFUSED\)/)

  const rig = await startRig(t, { env: { ELEVEO_PASSWORD: 'wrong' } })
  const denied = await rig.app.inject({ method: 'GET', url: `/recordings/dlg:1001:1:${T0}` })
  t.equal(denied.statusCode, 502)
  t.match(denied.json<ErrorBody>().message, /answered HTTP 401 \(check ELEVEO_USERNAME \/ ELEVEO_PASSWORD\)/)
})

t.test('a truncated upstream cuts the response short instead of ending it cleanly', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-trunc', {}, [3, 3])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`
  t.equal((await rig.app.inject({ method: 'HEAD', url })).statusCode, 200, 'layouts are cached while Eleveo is healthy')
  const address = await rig.app.listen({ host: '127.0.0.1', port: 0 })

  rig.sim.setFault('truncated', { target: 'audio' })
  const res = await request(`${address}${url}`)
  t.equal(res.statusCode, 200, 'headers were already on their way')
  const promised = Number(res.headers['content-length'])
  let received = 0
  const outcome = await (async () => {
    for await (const chunk of res.body) received += (chunk as Buffer).length
    return 'ended'
  })().catch((err: unknown) => (err instanceof Error ? err.message : String(err)))
  t.not(outcome, 'ended', `the client sees an aborted body (${outcome})`)
  t.ok(received < promised, `received ${received} of ${promised} promised bytes`)
})

t.test('a client that disconnects mid-stream aborts the upstream request', async (t) => {
  const rig = await startRig(t)
  const big = join(rig.dir, 'big.wav')
  // 20 MB: far more than socket buffers hold, so the upstream is still sending when the client leaves.
  await makeTone(big, { seconds: 120, rate: 44100, channels: 2 })
  rig.sim.legs.push({ id: 'big-rec', dialogId: 'dlg-big', agentExtension: '1001', ani: '1', start: iso(T0), end: null, wavPath: big })
  const address = await rig.app.listen({ host: '127.0.0.1', port: 0 })

  const res = await request(`${address}/recordings/dlg-big:1001:1:${T0}`)
  t.equal(res.statusCode, 200)
  let received = 0
  for await (const chunk of res.body) {
    received += (chunk as Buffer).length
    // The header comes from memory; wait until audio from Eleveo flows, then hang up (leaving the loop
    // destroys the body and the connection).
    if (received > 1024 * 1024) break
  }
  t.ok(received > 1024 * 1024, 'audio was flowing')
  const upstream = audioRequests(rig.sim).find((r) => r.range !== 'bytes=0-4095')
  t.ok(upstream, 'the audio was being fetched')
  // Wait for the consequence (bounded), then assert on it; no assertion on how long it took.
  await eventually(() => upstream?.aborted === true)
  t.equal(upstream?.aborted, true, 'Eleveo saw its request closed before it finished sending')
})

t.test('a client that hangs up during the look-up aborts it too', async (t) => {
  const rig = await startRig(t, { sim: { slowMs: 10_000 } })
  const call = await makeHoldCall(rig.dir, 'dlg-hangup', {}, [1])
  rig.sim.legs.push(...call.legs)
  rig.sim.setFault('slow', { target: 'metadata' })
  const address = await rig.app.listen({ host: '127.0.0.1', port: 0 })

  const ac = new AbortController()
  const pending = request(`${address}/recordings/${call.legId}`, { signal: ac.signal })
  await eventually(() => metadataRequests(rig.sim).length > 0)
  const lookUp = metadataRequests(rig.sim)[0]
  t.ok(lookUp, 'the look-up reached Eleveo')
  ac.abort()
  await t.rejects(pending)
  await eventually(() => lookUp?.aborted === true)
  t.equal(lookUp?.aborted, true, 'Eleveo saw the look-up closed')
})
