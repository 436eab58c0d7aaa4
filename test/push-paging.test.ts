import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { baseTime, cxLeg, eleveoLeg, startPushRig } from './push-rig.js'

/*
 * A CX whose paging is broken must not keep the push job reading forever: pages per window are capped
 * (CX_MAX_PAGES_PER_WINDOW), a page seen before in the same window ends the reading, and either fails
 * the run with a report and a log line that say why. The cursor stays: nothing is lost.
 */

function legs(n: number, b: number) {
  const activities = Array.from({ length: n }, (_, i) => cxLeg(`P${i}`, '1001', b + i * 1000))
  const vendor = activities.map((a, i) => eleveoLeg(`p${i}`, a.dialogId, '1001', Date.parse(a.legStartTime), Date.parse(a.legStartTime) + 500))
  return { activities, legs: vendor }
}

t.test('a CX that ignores ?page= is asked twice per window, not forever', async (t) => {
  const b = baseTime()
  const rig = await startPushRig(t, { ...legs(3, b), cxSim: { paging: 'ignore-page', maxPageSize: 2 } })
  const report = await rig.run()
  t.equal(report.status, 'failed')
  t.match(report.error, /voice activities page 1 repeats page 0 of the window .*CX ignores \?page=/)
  const pages = rig.cx.requests.filter((r) => r.url.includes('/voice-activities'))
  t.equal(pages.length, 2, 'the repeat is noticed at the first repeated page')
  t.equal(rig.cx.received.length, 0, 'nothing pushed from a window that could not be read whole')
  const failed = rig.logs.map((l) => JSON.parse(l) as { msg: string; report?: { error: string } }).find((l) => l.msg === 'push run failed')
  t.match(failed?.report?.error, /repeats page 0/, 'the failure is logged with its reason')
})

t.test('a CX that serves full pages forever is read up to CX_MAX_PAGES_PER_WINDOW pages', async (t) => {
  const rig = await startPushRig(t, { cxSim: { paging: 'endless', maxPageSize: 5 }, env: { CX_MAX_PAGES_PER_WINDOW: '7' } })
  const report = await rig.run()
  t.equal(report.status, 'failed')
  t.match(report.error, /did not end within CX_MAX_PAGES_PER_WINDOW=7 pages \(35 activities read\)/)
  t.equal(rig.cx.requests.filter((r) => r.url.includes('/voice-activities')).length, 7)
  t.equal(rig.cx.received.length, 0)
  t.equal(rig.cx.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/activities')).length, 0)
})

t.test('a window whose pages end within the cap is read whole', async (t) => {
  const b = baseTime()
  const rig = await startPushRig(t, { ...legs(6, b), cxSim: { maxPageSize: 2 }, env: { CX_MAX_PAGES_PER_WINDOW: '3' } })
  const report = await rig.run()
  t.equal(report.status, 'ok', report.error ?? '')
  t.equal(report.pushed, 6)
})

t.test('CX_MAX_PAGES_PER_WINDOW is validated', async (t) => {
  const env = { ELEVEO_BASE_URL: 'http://127.0.0.1:9' }
  const push = { ...env, CX_BASE_URL: 'http://127.0.0.1:9/cm', CX_API_TOKEN: 't', PUBLIC_BASE_URL: 'https://gw.example.com' }
  t.equal(loadConfig(push).cx?.maxPagesPerWindow, 200)
  t.throws(() => loadConfig({ ...push, CX_MAX_PAGES_PER_WINDOW: '0' }), new ConfigError('CX_MAX_PAGES_PER_WINDOW', 'expected 1..100000, got 0'))
})
