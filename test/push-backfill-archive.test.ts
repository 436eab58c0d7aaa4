import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { SNAPSHOT_FILE } from '../src/state/file-store.js'
import { cxLeg, eleveoLeg, legIdOf, startJobRig } from './push-rig.js'

/*
 * Issue 14 item 14: a backfill over windows older than PENDING_MAX_AGE_S must not push links CX already
 * has. The live ledger still forgets entries at that age (it is what every run consults and snapshots),
 * but what CX accepted is remembered compactly for LEDGER_RETENTION_DAYS, across restarts.
 */

const MIN = 60_000
const DAY = 86_400_000
const T = Date.parse('2026-03-02T12:00:00.000Z')

t.test('a backfill older than PENDING_MAX_AGE_S refuses what CX accepted, until LEDGER_RETENTION_DAYS', async (t) => {
  const b = T - 30 * MIN
  const activities = [cxLeg('OLD', '1001', b), cxLeg('OLD', '1002', b + MIN)]
  const legs = activities.map((a, i) => eleveoLeg(`o${i}`, a.dialogId, a.agentExtension, Date.parse(a.legStartTime), Date.parse(a.legStartTime) + 5000))
  const rig = await startJobRig(t, { now: T, activities, legs, env: { PENDING_MAX_AGE_S: '3600', LEDGER_RETENTION_DAYS: '30' } })
  t.match((await rig.run()).tally, { pushed: 2 })

  // Two days later: the entries have left the live ledger...
  rig.clock.now = T + 2 * DAY
  t.equal((await rig.run()).error, null)
  const snap = JSON.parse(await readFile(join(rig.stateDir, SNAPSHOT_FILE), 'utf8')) as { accepted: Record<string, number> }
  t.same(snap.accepted, {}, 'the snapshot no longer lists them')

  // ...but a backfill over their window, before and after a restart, pushes nothing again.
  const range = { start: b - MIN, end: b + 10 * MIN }
  const backfill = await rig.run({ range })
  t.equal(backfill.error, null)
  t.match(backfill.tally, { alreadyPushed: 2, pushed: 0 })
  await rig.reopen()
  t.match((await rig.run({ range })).tally, { alreadyPushed: 2, pushed: 0 }, 'after a restart too')
  t.same([...rig.cx.countsById().values()], [1, 1], 'each link once')

  // Past LEDGER_RETENTION_DAYS the gateway forgets, as the README says, and a backfill pushes again.
  rig.clock.now = T + 31 * DAY
  t.equal((await rig.run()).error, null)
  t.match((await rig.run({ range })).tally, { alreadyPushed: 0, pushed: 2 })
  t.same(rig.cx.received.map((m) => m.legId), [...activities.map(legIdOf), ...activities.map(legIdOf)])
})
