import t from 'tap'
import { uuidV5 } from '../src/cx/uuid.js'
import { UpstreamUnavailableError } from '../src/errors.js'
import type { RecordingProvider } from '../src/providers/types.js'
import { FileStateStore } from '../src/state/file-store.js'
import {
  baseTime,
  cxLeg,
  eleveoLeg,
  legIdOf,
  PUBLIC_BASE_URL,
  startPushRig,
  CX_SECRETS,
  ELEVEO_PASSWORD
} from './push-rig.js'
import type { SimVoiceActivity } from '../simulators/cx.js'

const MIN = 60_000

/** Reads the state files the way a restart would (the app holds them open; reading is safe). */
async function stateOf(dir: string) {
  const store = await FileStateStore.open(`${dir}`)
  const view = await store.load()
  await store.close()
  return view
}

t.test('one run links every CX leg: holds merged, direct transfers and conferences kept apart', async (t) => {
  const b = baseTime()
  const activities: SimVoiceActivity[] = [
    // H: one leg that Eleveo split twice for HOLD.
    cxLeg('H', '1001', b + 400),
    // D: direct transfer back to the same agent: two legs of agent 1002 that must not merge.
    cxLeg('D', '1002', b + 1 * MIN + 300),
    cxLeg('D', '1002', b + 3 * MIN - 700),
    // X: transfer between agents.
    cxLeg('X', '1003', b + 5 * MIN),
    cxLeg('X', '1004', b + 6 * MIN + 1200),
    // C: a conference: three overlapping legs.
    cxLeg('C', '1005', b + 8 * MIN),
    cxLeg('C', '1006', b + 8 * MIN + 30_000),
    cxLeg('C', '1007', b + 8 * MIN + 31_000)
  ]
  const legs = [
    eleveoLeg('h1', 'H', '1001', b, b + 20_000, 'HOLD'),
    eleveoLeg('h2', 'H', '1001', b + 40_000, b + 50_000, 'HOLD'),
    eleveoLeg('h3', 'H', '1001', b + 70_000, b + 90_000, 'HANGUP'),
    eleveoLeg('d1', 'D', '1002', b + 1 * MIN, b + 2 * MIN, 'TRANSFER'),
    eleveoLeg('d2', 'D', '1002', b + 3 * MIN, b + 4 * MIN, 'HANGUP'),
    eleveoLeg('x1', 'X', '1003', b + 5 * MIN + 500, b + 6 * MIN, 'TRANSFER'),
    eleveoLeg('x2', 'X', '1004', b + 6 * MIN + 1000, b + 7 * MIN, 'HANGUP'),
    eleveoLeg('c1', 'C', '1005', b + 8 * MIN, b + 10 * MIN),
    eleveoLeg('c2', 'C', '1006', b + 8 * MIN + 30_500, b + 9 * MIN),
    eleveoLeg('c3', 'C', '1007', b + 8 * MIN + 31_200, b + 9 * MIN)
  ]
  const rig = await startPushRig(t, { activities, legs })
  const report = await rig.run()

  t.equal(report.status, 'ok', report.error ?? '')
  t.match(report, { trigger: 'manual', instance: 'test-instance', calls: 4, legs: 8, matched: 8, pushed: 8, pending: 0, failed: 0 })
  t.equal(rig.cx.received.length, 8, 'one message per CX leg, holds merged into one')
  const expected = activities.map(legIdOf).sort()
  t.same(rig.cx.received.map((r) => r.legId).sort(), expected, 'each CX leg linked once, the two direct-transfer legs separately')

  for (const a of activities) {
    const legId = legIdOf(a)
    const got = rig.cx.received.find((r) => r.legId === legId)
    t.ok(got, `message for ${legId}`)
    if (!got) continue
    const m = got.message as {
      id: string
      header: { sender: { id: string; type: string }; channelSessionId: string; conversationId: string; channelData: { channelCustomerIdentifier: string } }
      body: { type: string; mediaUrl: string }
    }
    t.equal(m.id, uuidV5(legId), 'message id is the UUID v5 of the legId')
    t.equal(m.body.mediaUrl, `${PUBLIC_BASE_URL}/recordings/${encodeURIComponent(legId)}`)
    t.equal(m.body.type, 'VOICE_RECORDING')
    t.equal(m.header.sender.id, 'recording-gateway-test')
    t.equal(m.header.sender.type, 'APP')
    t.equal(m.header.channelSessionId, a.channelSessionId)
    t.equal(m.header.conversationId, a.conversationId)
    t.equal(m.header.channelData.channelCustomerIdentifier, a.ani)
  }
  t.equal(rig.cx.tokensIssued, 1, 'one token for the whole run')
  t.equal(rig.eleveo.requests.filter((r) => r.url.startsWith('/api/recordings?')).length, 4, 'one Eleveo look-up per call')

  // The window is done: a second run has nothing new, and a backfill of the same window pushes nothing again.
  const again = await rig.run()
  t.match(again, { status: 'ok', legs: 0, pushed: 0 })
  t.ok(Date.parse(again.windows[0]!.start) >= Date.parse(report.windows.at(-1)!.end), 'the next run starts at the cursor')
  const res = await rig.app.inject({
    method: 'POST',
    url: '/admin/push-runs',
    headers: { authorization: 'Bearer none' },
    payload: {}
  })
  t.equal(res.statusCode, 404, 'admin routes are absent without ADMIN_TOKEN')
  const backfill = await rig.runner.start('backfill', { start: b - MIN, end: b + 20 * MIN }).done
  t.match(backfill, { status: 'ok', trigger: 'backfill', legs: 8, alreadyPushed: 8, pushed: 0 })
  t.equal(rig.cx.received.length, 8, 'the ledger prevents a second push')
})

t.test('a leg with no recording yet waits and is pushed by a later run', async (t) => {
  const b = baseTime()
  const activities = [cxLeg('L', '2001', b), cxLeg('L', '2002', b + 2 * MIN)]
  const rig = await startPushRig(t, { activities, legs: [eleveoLeg('l1', 'L', '2001', b + 200, b + MIN)] })

  const first = await rig.run()
  t.match(first, { status: 'ok', legs: 2, matched: 1, pushed: 1, pending: 1 })
  t.same(rig.cx.received.map((r) => r.legId), [legIdOf(activities[0]!)])

  // Still no recording: the leg stays pending, nothing is pushed twice.
  const second = await rig.run()
  t.match(second, { status: 'ok', calls: 1, pushed: 0, pending: 1, alreadyPushed: 1 })

  rig.eleveo.legs.push(eleveoLeg('l2', 'L', '2002', b + 2 * MIN + 900, b + 3 * MIN))
  const third = await rig.run()
  t.match(third, { status: 'ok', calls: 1, legs: 2, alreadyPushed: 1, pushed: 1, pending: 0 })
  t.same(rig.cx.received.map((r) => r.legId), activities.map(legIdOf))

  await rig.app.close()
  const state = await stateOf(rig.stateDir)
  t.same(state.pending, [], 'nothing left pending')
})

t.test('CX answering 500 keeps the legs pending; the next run pushes them once', async (t) => {
  const b = baseTime()
  const activities = [cxLeg('A', '3001', b), cxLeg('B', '3002', b + MIN), cxLeg('C', '3003', b + 2 * MIN)]
  const legs = [eleveoLeg('a', 'A', '3001', b, b + 9000), eleveoLeg('b', 'B', '3002', b + MIN, b + MIN + 9000), eleveoLeg('c', 'C', '3003', b + 2 * MIN, b + 3 * MIN)]
  const rig = await startPushRig(t, { activities, legs, env: { CX_CONCURRENCY: '1' } })
  rig.cx.failNext(2, 503)
  const first = await rig.run()
  t.match(first, { status: 'ok', matched: 3, pushed: 1, pending: 2, failed: 0 })
  t.equal(rig.cx.received.length, 1)

  const second = await rig.run()
  t.match(second, { status: 'ok', pushed: 2, pending: 0 })
  t.same([...rig.cx.countsById().values()], [1, 1, 1], 'every link exactly once')
})

t.test('a 400 for one message is recorded as failed and never retried', async (t) => {
  const b = baseTime()
  const activities = [cxLeg('A', '4001', b), cxLeg('B', '4002', b + MIN)]
  const legs = [eleveoLeg('a', 'A', '4001', b, b + 9000), eleveoLeg('b', 'B', '4002', b + MIN, b + MIN + 9000)]
  const rig = await startPushRig(t, { activities, legs, env: { ADMIN_TOKEN: 'x'.repeat(20) } })
  const bad = legIdOf(activities[1]!)
  rig.cx.rejectWhen((m) => m.legId === bad)
  const first = await rig.run()
  t.match(first, { status: 'ok', pushed: 1, failed: 1, pending: 0 })
  t.ok(rig.logs.some((l) => l.includes('CX rejected the link') && l.includes(bad) && l.includes('unknown conversation')), 'logged with CX answer')

  const posts = (): number => rig.cx.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/activities')).length
  const before = posts()
  const backfill = await rig.runner.start('backfill', { start: b - MIN, end: b + 10 * MIN }).done
  t.match(backfill, { status: 'ok', legs: 2, alreadyPushed: 2, pushed: 0, failed: 0 })
  t.equal(posts(), before, 'the rejected message is not sent again')
})

t.test('a token that expires mid-run is fetched again once and the run goes on', async (t) => {
  const b = baseTime()
  const activities = Array.from({ length: 6 }, (_, i) => cxLeg(`T${i}`, '5001', b + i * MIN))
  const legs = activities.map((a, i) => eleveoLeg(`t${i}`, a.dialogId, '5001', b + i * MIN, b + i * MIN + 5000))
  let accepted = 0
  const rig = await startPushRig(t, {
    activities,
    legs,
    env: { CX_CONCURRENCY: '1' },
    cxSim: {
      onAccept: () => {
        if (++accepted === 3) rig.cx.expireTokens()
      }
    }
  })
  const report = await rig.run()
  t.match(report, { status: 'ok', pushed: 6, pending: 0, failed: 0 })
  t.equal(rig.cx.tokensIssued, 2, 'a second token after the 401')
  t.equal(rig.cx.requests.filter((r) => r.status === 401).length, 1, 'exactly one 401 seen')
  t.same([...rig.cx.countsById().values()], [1, 1, 1, 1, 1, 1])

  const leaked = rig.logs.filter((l) => [CX_SECRETS.password, CX_SECRETS.clientSecret, ELEVEO_PASSWORD, ...rig.cx.issued].some((s) => l.includes(s)))
  t.same(leaked, [], 'no password, client secret or token in the logs')
  t.ok(rig.logs.length > 0, 'logs were captured')
})

t.test('wrong CX credentials fail the run without leaking them, and the cursor stays', async (t) => {
  const b = baseTime()
  const rig = await startPushRig(t, {
    activities: [cxLeg('A', '5101', b)],
    legs: [eleveoLeg('a', 'A', '5101', b, b + 9000)],
    env: { CX_PASSWORD: 'wrong-password-3a1f', CX_CLIENT_SECRET: 'wrong-secret-9c2e' }
  })
  const report = await rig.run()
  t.equal(report.status, 'failed')
  t.match(report.error, /token endpoint answered 401: invalid_client/)
  t.equal((await rig.app.stateStore!.load()).cursor, null, 'cursor not advanced')
  const leaked = rig.logs.filter((l) => l.includes('wrong-password-3a1f') || l.includes('wrong-secret-9c2e'))
  t.same(leaked, [])
})

t.test('Eleveo timing out for one call keeps that call pending; the others go through', async (t) => {
  const b = baseTime()
  const activities = [cxLeg('OK1', '6001', b), cxLeg('SLOW', '6002', b + MIN), cxLeg('OK2', '6003', b + 2 * MIN)]
  const legs = [
    eleveoLeg('o1', 'OK1', '6001', b, b + 9000),
    eleveoLeg('s1', 'SLOW', '6002', b + MIN, b + MIN + 9000),
    eleveoLeg('o2', 'OK2', '6003', b + 2 * MIN, b + 2 * MIN + 9000)
  ]
  const rig = await startPushRig(t, { activities, legs, env: { ELEVEO_TIMEOUT_MS: '300' }, eleveoSim: { slowMs: 5000 } })
  rig.eleveo.setFault('slow', { dialogId: 'SLOW', target: 'metadata' })
  const first = await rig.run()
  t.match(first, { status: 'ok', calls: 3, pushed: 2, pending: 1 })
  t.notOk(rig.cx.received.some((r) => r.legId === legIdOf(activities[1]!)))

  rig.eleveo.setFault(null)
  const second = await rig.run()
  t.match(second, { status: 'ok', calls: 1, pushed: 1, pending: 0 })
  t.same([...rig.cx.countsById().values()], [1, 1, 1])
})

t.test('the vendor unreachable as a whole fails the run: cursor kept, nothing lost', async (t) => {
  let down = true
  const rig = await startPushRig(t, {
    wrapProvider: (p): RecordingProvider => ({
      name: p.name,
      matchPolicy: p.matchPolicy,
      findLegs: (d, s) => (down && d === 'B' ? Promise.reject(new UpstreamUnavailableError('eleveo', 'connection refused')) : p.findLegs(d, s)),
      statSegment: (seg, n, s) => p.statSegment(seg, n, s),
      openSegment: (seg, r, s) => p.openSegment(seg, r, s),
      describeSegment: (seg) => p.describeSegment(seg),
      ping: (s) => p.ping(s),
      close: () => p.close()
    })
  })
  // An empty first run sets the cursor; the calls then happen after it.
  const empty = await rig.run()
  const cursor = (await rig.app.stateStore!.load()).cursor
  t.equal(cursor, Date.parse(empty.windows.at(-1)!.end))
  const b = cursor! + 1
  const activities = [cxLeg('A', '7001', b), cxLeg('B', '7002', b + 1)]
  rig.cx.activities.push(...activities)
  rig.eleveo.legs.push(eleveoLeg('a', 'A', '7001', b, b + 9000), eleveoLeg('b', 'B', '7002', b + 1, b + 9000))
  while (Date.now() <= b + 1) await new Promise((r) => setTimeout(r, 5))

  const first = await rig.run()
  t.equal(first.status, 'failed')
  t.match(first.error, /unavailable: connection refused/)
  t.equal((await rig.app.stateStore!.load()).cursor, cursor, 'cursor not advanced')
  down = false
  const second = await rig.run()
  t.equal(second.status, 'ok')
  t.equal(second.windows[0]!.start, new Date(cursor!).toISOString(), 'the failed window is read again')
  t.same(rig.cx.received.map((r) => r.legId).sort(), activities.map(legIdOf).sort())
  t.ok([...rig.cx.countsById().values()].every((n) => n === 1), 'no link twice')
})

t.test('a CX leg that cannot form a legId is recorded as failed with the reason', async (t) => {
  const b = baseTime()
  const good = cxLeg('G', '8001', b)
  const bad = { ...cxLeg('has/slash', '8002', b + MIN) }
  const noSession = { ...cxLeg('N', '8003', b + 2 * MIN), channelSessionId: null, conversationId: null }
  const rig = await startPushRig(t, { activities: [good, bad, noSession], legs: [eleveoLeg('g', 'G', '8001', b, b + 9000)] })
  const report = await rig.run()
  t.match(report, { status: 'ok', pushed: 1, failed: 2, legs: 3 })
  t.ok(rig.logs.some((l) => l.includes('cannot be linked') && l.includes('contains characters other than')))
  t.ok(rig.logs.some((l) => l.includes('neither channelSessionId nor conversationId')))
})

t.test('Eleveo refusing connections fails the run through the real provider: cursor kept, no call parked', async (t) => {
  const rig = await startPushRig(t)
  const empty = await rig.run()
  const cursor = (await rig.app.stateStore!.load()).cursor
  t.equal(cursor, Date.parse(empty.windows.at(-1)!.end))
  const b = cursor! + 1
  rig.cx.activities.push(cxLeg('R', '7101', b))
  while (Date.now() <= b + 1) await new Promise((r) => setTimeout(r, 5))

  await rig.eleveo.close()
  const report = await rig.run()
  t.equal(report.status, 'failed')
  t.match(report.error, /eleveo.*cannot connect \(ECONNREFUSED\)/)
  const state = await rig.app.stateStore!.load()
  t.equal(state.cursor, cursor, 'cursor not advanced')
  t.same(state.pending, [], 'the window is read again later instead of parking its calls')
  t.equal(rig.cx.received.length, 0)
})
