import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { PushRunner, RunInProgressError } from '../src/jobs/push-runner.js'
import { SNAPSHOT_FILE } from '../src/state/file-store.js'
import { cxLeg, eleveoLeg, legIdOf, startJobRig } from './push-rig.js'

const S = 1000
const MIN = 60 * S
const DAY = 86_400 * S
const T = Date.parse('2026-03-02T12:00:00.000Z')

t.test('the live ledger is pruned past PENDING_MAX_AGE_S; what CX accepted stays known (LEDGER_RETENTION_DAYS)', async (t) => {
  const b = T - 30 * MIN
  const activities = [cxLeg('A', '1001', b), cxLeg('B', '1002', b + MIN)]
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, a.agentExtension, Date.parse(a.legStartTime), Date.parse(a.legStartTime) + 5000))
  const rig = await startJobRig(t, { now: T, activities, legs })

  const r1 = await rig.run()
  t.equal(r1.error, null)
  t.equal(r1.tally.pushed, 2)
  const ids = activities.map(legIdOf)
  t.equal((await rig.store.settled(ids)).size, 2, 'both in the ledger')

  // Half a day later: still kept.
  rig.clock.now = T + DAY / 2
  await rig.run()
  t.equal((await rig.store.settled(ids)).size, 2)

  // A day and a bit later the entries are older than the horizon: gone from the live ledger and its
  // snapshot, still refused from the compact archive (see push-backfill-archive.test.ts).
  rig.clock.now = T + DAY + MIN
  const r3 = await rig.run()
  t.equal(r3.error, null)
  t.same([...(await rig.store.settled(ids)).values()], ['accepted', 'accepted'], 'still known as accepted')
  const snap = JSON.parse(await readFile(join(rig.stateDir, SNAPSHOT_FILE), 'utf8')) as { accepted: Record<string, number> }
  t.same(snap.accepted, {}, 'the snapshot no longer holds them')
})

t.test('a pending leg is retried until PENDING_MAX_AGE_S, then dropped with a warning', async (t) => {
  const b = T - 30 * MIN
  const activities = [cxLeg('P', '2001', b)]
  const rig = await startJobRig(t, { now: T, activities, legs: [], env: { PENDING_MAX_AGE_S: '3600' } })

  const r1 = await rig.run()
  t.match(r1.tally, { pending: 1, pushed: 0 })
  rig.clock.now = T + 30 * MIN
  const r2 = await rig.run()
  t.match(r2.tally, { calls: 1, pending: 1, droppedPending: 0 })
  t.match((await rig.store.load()).pending, [{ dialogId: 'P', attempts: 2, firstSeenAt: T, lastError: 'no recording yet' }])

  rig.clock.now = T + 61 * MIN
  const r3 = await rig.run()
  t.match(r3.tally, { calls: 0, pending: 0, droppedPending: 1 })
  t.same((await rig.store.load()).pending, [])
  const warn = rig.logs.find((l) => l.level === 'warn' && String(l.args[1]).includes('dropping pending legs'))
  t.ok(warn, 'a warning names the dropped call')
  t.match(warn?.args[0], { dialogId: 'P', legIds: [legIdOf(activities[0]!)] })

  // The recording turns up later: a dropped leg is not pushed by scheduled runs any more.
  rig.eleveo.legs.push(eleveoLeg('p', 'P', '2001', b, b + 5000))
  rig.clock.now = T + 62 * MIN
  await rig.run()
  t.equal(rig.cx.received.length, 0)
})

t.test('an aborted run stops before its next message; the state stays consistent', async (t) => {
  const b = T - 50 * MIN
  const activities = Array.from({ length: 40 }, (_, i) => cxLeg(`A${i}`, '3001', b + i * S))
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, '3001', b + i * S, b + i * S + 500))
  const stop = new AbortController()
  const rig = await startJobRig(t, {
    now: T,
    activities,
    legs,
    env: { CX_CONCURRENCY: '2' },
    cxSim: {
      latencyMs: 5,
      onAccept: (m) => {
        if (rig.cx.received.length === 10) stop.abort(new Error('leadership lost'))
        void m
      }
    }
  })
  const r1 = await rig.run({ signal: stop.signal })
  t.match(String(r1.error), /leadership lost/)
  const postsAtAbort = rig.cx.received.length
  // Only the messages already on the wire when the signal fired can still arrive.
  t.ok(postsAtAbort <= 10 + 2, `${postsAtAbort} messages after aborting at 10 with CX_CONCURRENCY=2`)
  t.equal((await rig.store.load()).cursor, null, 'window not completed: cursor kept')

  const r2 = await rig.run()
  t.equal(r2.error, null)
  const counts = rig.cx.countsById()
  t.equal(counts.size, 40, 'every leg linked')
  const doubled = [...counts.values()].filter((n) => n > 1).length
  t.ok(doubled <= 2, `${doubled} doubled: at most the messages in flight at the abort`)
})

t.test('one run at a time: a second start is refused with the running id', async (t) => {
  const b = T - 50 * MIN
  const activities = Array.from({ length: 5 }, (_, i) => cxLeg(`R${i}`, '4001', b + i * S))
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, '4001', b + i * S, b + i * S + 500))
  const rig = await startJobRig(t, { now: T, activities, legs, cxSim: { latencyMs: 20 } })
  const runner = new PushRunner({ ...rig.deps, instanceId: 'runner-test' })
  const first = runner.start('schedule')
  t.throws(() => runner.start('manual'), new RunInProgressError(first.id))
  const live = await runner.latest()
  t.match(live, { id: first.id, status: 'running', trigger: 'schedule', instance: 'runner-test' })
  const report = await first.done
  t.match(report, { id: first.id, status: 'ok', pushed: 5 })
  t.equal(runner.running, null)
  const second = runner.start('manual')
  t.not(second.id, first.id)
  t.match(await second.done, { status: 'ok', pushed: 0 })
  t.match(await runner.latest(), { id: second.id, status: 'ok' })

  // Stop: no new runs afterwards.
  await runner.stop(1000)
  t.throws(() => runner.start('manual'), /stopped/)
})

t.test('a lease lost mid-run (another instance took over) stops the run', async (t) => {
  const b = T - 50 * MIN
  const activities = Array.from({ length: 20 }, (_, i) => cxLeg(`L${i}`, '5001', b + i * S))
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, '5001', b + i * S, b + i * S + 500))
  const lost = new AbortController()
  let released = 0
  const rig = await startJobRig(t, {
    now: T,
    activities,
    legs,
    env: { CX_CONCURRENCY: '1' },
    cxSim: {
      onAccept: () => {
        if (rig.cx.received.length === 5) lost.abort(new Error('lost the push lock'))
      }
    }
  })
  const runner = new PushRunner({
    ...rig.deps,
    instanceId: 'a',
    leadership: { acquire: async () => ({ signal: lost.signal, release: async () => void released++ }) }
  })
  const report = await runner.start('schedule').done
  t.match(report, { status: 'failed', error: /aborted: lost the push lock/ })
  t.ok(rig.cx.received.length <= 6, `${rig.cx.received.length} messages: at most one after the loss`)
  t.equal(released, 1, 'the lease is released')

  const follower = new PushRunner({ ...rig.deps, instanceId: 'b', leadership: { acquire: async () => null } })
  t.equal(await follower.start('schedule').done, null, 'not the leader: nothing runs')
})

t.test('a pending call does not re-push its legs accepted long before, once the ledger has pruned them', async (t) => {
  const b = T - 30 * MIN
  const first = cxLeg('X', '6001', b)
  const rig = await startJobRig(t, { now: T, activities: [first], legs: [eleveoLeg('x1', 'X', '6001', b, b + 20 * S)], env: { PENDING_MAX_AGE_S: '3600' } })

  const r1 = await rig.run()
  t.match(r1.tally, { pushed: 1, pending: 0 })

  // CX reports a second leg of the call late; an operator backfills that stretch. The new leg has no
  // recording, so the call goes pending now, holding the leg CX accepted 50 minutes ago.
  const late = cxLeg('X', '6002', b + MIN)
  rig.cx.activities.push(late)
  rig.clock.now = T + 50 * MIN
  const r2 = await rig.run({ range: { start: b - MIN, end: b + 10 * MIN } })
  t.match(r2.tally, { alreadyPushed: 1, pushed: 0, pending: 1 })

  // The first leg's ledger entry passes the horizon and is pruned, while the call, pending for only
  // a few minutes, is still retried.
  for (const minutes of [61, 62, 63]) {
    rig.clock.now = T + minutes * MIN
    const r = await rig.run()
    t.equal(r.error, null)
    t.match(r.tally, { pending: 1, droppedPending: 0 }, `run at +${minutes} min keeps the late leg pending`)
  }
  t.same([...rig.cx.countsById().values()], [1], 'the leg accepted before is not pushed again')

  // Its recording turns up: the late leg, and only it, is pushed.
  rig.eleveo.legs.push(eleveoLeg('x2', 'X', '6002', b + MIN, b + 2 * MIN))
  rig.clock.now = T + 64 * MIN
  const r = await rig.run()
  t.match(r.tally, { pushed: 1, pending: 0 })
  t.same(rig.cx.received.map((m) => m.legId), [legIdOf(first), legIdOf(late)])
})

t.test('a run that cannot ask for the push lock is reported and logged as failed', async (t) => {
  const rig = await startJobRig(t, { now: T, activities: [cxLeg('N', '7001', T - 30 * MIN)], legs: [] })
  const runner = new PushRunner({
    ...rig.deps,
    instanceId: 'no-lock',
    leadership: {
      acquire: async () => {
        throw new Error('state database: connect ECONNREFUSED')
      }
    }
  })
  const run = runner.start('schedule')
  t.equal(await run.lease, 'failed')
  const report = await run.done
  t.match(report, { status: 'failed', error: 'could not take the push lock: state database: connect ECONNREFUSED' })
  t.equal(rig.cx.requests.length, 0, 'nothing asked of CX')
  const logged = rig.logs.find((l) => l.level === 'error' && l.args[1] === 'push run failed')
  t.match(logged?.args[0], { report: { status: 'failed', error: /could not take the push lock: state database: connect ECONNREFUSED/ } }, 'the reason is logged')
})
