import { join } from 'node:path'
import t from 'tap'
import { makeTone, tempDir } from './helpers/sox.js'
import { smallDisk } from './helpers/small-disk.js'

type RigModule = typeof import('./push-rig.js')
type StoreModule = typeof import('../src/state/file-store.js')

/*
 * STATE_DIR on a disk that fills up (issue 14 item 12). A ledger write that fails must stop the run
 * before another message goes out: only the messages already on the wire (CX_CONCURRENCY at most) can
 * be accepted by CX without the ledger knowing, hence pushed again later. And a gateway restarted
 * while the disk is still full must serve recordings, report the fault on every push run, and push
 * again once there is space.
 */

const CX_CONCURRENCY = 4

t.test('a state disk filling up mid-run: no message goes out once a ledger write failed', async (t) => {
  const disk = await smallDisk(t, 64 * 1024)
  const { startPushRig, transferCalls, baseTime, legIdOf } = await disk.load<RigModule>(new URL('./push-rig.ts', import.meta.url).href)
  const { FileStateStore } = await disk.load<StoreModule>(new URL('../src/state/file-store.ts', import.meta.url).href)
  // Far more ledger lines than 64 KiB hold.
  const { activities, legs } = transferCalls(1500, baseTime())
  const rig = await startPushRig(t, { activities, legs, env: { STATE_DIR: disk.dir, CX_CONCURRENCY: String(CX_CONCURRENCY) } })

  const report = await rig.run()
  t.equal(report.status, 'failed', `run on a ${disk.kind} disk`)
  t.match(report.error, /ENOSPC/)
  t.ok(rig.logs.some((l) => l.includes('"push run failed"') && l.includes('ENOSPC')), 'the failure is logged with its cause')
  const sentDuringFailure = rig.cx.received.length
  await rig.app.close()

  await disk.free()
  const store = await FileStateStore.open(disk.dir)
  const settled = await store.settled(activities.map(legIdOf))
  await store.close()
  const recorded = [...settled.values()].filter((s) => s === 'accepted').length
  t.ok(recorded > 0 && recorded < activities.length, `the disk filled mid-run: ${recorded} of ${activities.length} recorded`)
  t.ok(
    sentDuringFailure - recorded <= CX_CONCURRENCY,
    `CX holds ${sentDuringFailure - recorded} links the ledger does not (at most the ${CX_CONCURRENCY} on the wire)`
  )

  await rig.restart()
  const after = await rig.run()
  t.equal(after.status, 'ok', after.error ?? '')
  const counts = rig.cx.countsById()
  t.equal(counts.size, activities.length, 'with space again, every leg is linked')
  const doubled = [...counts.values()].filter((n) => n > 1).length
  t.ok(doubled <= CX_CONCURRENCY, `${doubled} links pushed twice, within the README's bound of CX_CONCURRENCY`)
})

t.test('restarted with the state disk full: recordings are served, push runs report the fault and retry', async (t) => {
  const disk = await smallDisk(t, 64 * 1024)
  const { startPushRig, baseTime, cxLeg, eleveoLeg, legIdOf, ADMIN_TOKEN } = await disk.load<RigModule>(new URL('./push-rig.ts', import.meta.url).href)
  const wavDir = await tempDir(t, 'cxgw-full-wav-')
  const b = baseTime()
  const first = cxLeg('dlg-full-1', '1001', b)
  const wavPath = await makeTone(join(wavDir, 'one.wav'), { seconds: 0.5, freq: 440 })
  const rig = await startPushRig(t, { activities: [first], legs: [{ ...eleveoLeg('r1', 'dlg-full-1', '1001', b, b + 500), wavPath }], env: { STATE_DIR: disk.dir, ADMIN_TOKEN } })
  t.equal((await rig.run()).pushed, 1)
  // A call after the cursor, for the runs to come.
  const later = Date.now() + 1
  const second = cxLeg('dlg-full-2', '1001', later)
  rig.eleveo.legs.push({ ...eleveoLeg('r2', 'dlg-full-2', '1001', later, later + 500), wavPath })

  await disk.fill()
  await rig.restart()
  const audio = await rig.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legIdOf(first))}` })
  t.equal(audio.statusCode, 200, 'retrieval serves without writable state')
  t.equal(audio.headers['content-type'], 'audio/wav')

  rig.cx.activities.push(second)
  const refused = await rig.run()
  t.equal(refused.status, 'failed')
  t.match(refused.error, /state store .*unavailable.*ENOSPC/)
  t.equal(rig.cx.received.length, 1, 'nothing pushed without a ledger')
  t.ok(rig.logs.some((l) => l.includes('"push run failed"') && l.includes('ENOSPC')), 'the run failure is logged')
  const latest = await rig.app.inject({ method: 'GET', url: '/admin/push-runs/latest', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.match(latest.json(), { status: 'failed', error: /ENOSPC/ }, 'the admin report shows the fault')

  await disk.free()
  const retried = await rig.run()
  t.equal(retried.status, 'ok', retried.error ?? '')
  t.equal(retried.pushed, 1, 'the next run, with space, pushes what was waiting')
  t.same(
    rig.cx.received.map((r) => r.legId),
    [legIdOf(first), legIdOf(second)],
    'each link once: the state from before the disk filled was kept'
  )
})
