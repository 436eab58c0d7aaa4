import t from 'tap'
import { planWindows, splitWindow } from '../src/jobs/windows.js'
import { cxLeg, eleveoLeg, legIdOf, startJobRig } from './push-rig.js'

const S = 1000
const H = 3600 * S
const T = Date.parse('2026-03-02T12:00:00.000Z')

t.test('planWindows: from the cursor to now minus the processing delay, cut at the maximum window', async (t) => {
  const s = { processingDelayS: 600, defaultWindowS: 3600, maxWindowS: 3600 }
  t.same(planWindows(null, T, s), [{ start: T - 600 * S - H, end: T - 600 * S }], 'no cursor: the default window')
  t.same(planWindows(T - 600 * S - 90 * S, T, s), [{ start: T - 690 * S, end: T - 600 * S }], 'a short window after the cursor')
  t.same(
    planWindows(T - 3 * H - 30 * 60 * S, T, s),
    [
      { start: T - 3.5 * H, end: T - 2.5 * H },
      { start: T - 2.5 * H, end: T - 1.5 * H },
      { start: T - 1.5 * H, end: T - 0.5 * H },
      { start: T - 0.5 * H, end: T - 600 * S }
    ],
    'catch-up after downtime: consecutive windows, the last one shorter'
  )
  t.same(planWindows(T - 600 * S, T, s), [], 'nothing new')
  t.same(planWindows(T, T, s), [], 'a cursor ahead of now (clock moved back) reads nothing')
  t.same(splitWindow({ start: 0, end: 10 * S }, 4), [
    { start: 0, end: 4 * S },
    { start: 4 * S, end: 8 * S },
    { start: 8 * S, end: 10 * S }
  ])
})

t.test('each window is read completely and moves the cursor; a failed window keeps it', async (t) => {
  const now = T
  const delay = 600 * S
  // Three hours to catch up, one call per hour, 250 legs in the middle hour (three pages of 100).
  const first = cxLeg('W1', '1001', now - delay - 2.5 * H)
  const busy = Array.from({ length: 250 }, (_, i) => cxLeg(`W2-${i}`, '1002', now - delay - 1.9 * H + i * S))
  const last = cxLeg('W3', '1003', now - delay - 0.1 * H)
  const activities = [first, ...busy, last]
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, a.agentExtension, Date.parse(a.legStartTime), Date.parse(a.legStartTime) + 5000))
  const rig = await startJobRig(t, {
    now,
    activities,
    legs,
    env: { PROCESSING_DELAY_S: '600', PUSH_DEFAULT_WINDOW_S: String(3 * 3600), PUSH_MAX_WINDOW_S: '3600' },
    cxSim: { maxPageSize: 100 }
  })

  // Window 1 is one page; window 2's first page passes and its second fails, before any of it is pushed.
  rig.cx.failNext(1, 502, 'voice-activities', 2)
  const r1 = await rig.run()
  t.match(r1.error, /voice activities page 1 answered 502/)
  t.equal((await rig.store.load()).cursor, now - delay - 2 * H, 'cursor at the end of the first window')
  t.same(rig.cx.received.map((r) => r.legId), [legIdOf(first)], 'the first window was pushed')

  const r2 = await rig.run()
  t.equal(r2.error, null)
  t.same(r2.tally.windows, [
    { start: new Date(now - delay - 2 * H).toISOString(), end: new Date(now - delay - H).toISOString() },
    { start: new Date(now - delay - H).toISOString(), end: new Date(now - delay).toISOString() }
  ])
  t.equal((await rig.store.load()).cursor, now - delay)
  const pageRequests = rig.cx.requests
    .filter((r) => r.url.includes('/voice-activities'))
    .map((r) => new URL(r.url, 'http://x').searchParams)
    .map((q) => `${q.get('startTime')} ${q.get('page')}`)
  t.same(pageRequests.slice(-4), [
    `${new Date(now - delay - 2 * H).toISOString()} 0`,
    `${new Date(now - delay - 2 * H).toISOString()} 1`,
    `${new Date(now - delay - 2 * H).toISOString()} 2`,
    `${new Date(now - delay - H).toISOString()} 0`
  ], 'all three pages of the busy window, then the last window')
  t.equal(rig.cx.received.length, 252)
  t.equal(new Set(rig.cx.received.map((r) => r.id)).size, 252, 'no link twice')
})
