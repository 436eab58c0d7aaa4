import { once } from 'node:events'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import type { Lease } from '../src/state/leadership.js'
import { LeadershipLostError, PgLeadership, PUSH_LOCK_KEY } from '../src/state/pg-leadership.js'
import { PostgresStateStore } from '../src/state/postgres-store.js'
import { startPostgres } from './helpers/postgres.js'
import { pendingCall } from './helpers/state-store-contract.js'

/*
 * The push lock on its own: one holder at a time, loss detected (session terminated, session frozen,
 * session idle too long), and the fence: once a leader lost its lock, its plan writes (cursor,
 * pending) cannot land, while the facts it learned (CX accepted a leg) still do.
 */

const pg = await startPostgres()
t.teardown(() => pg.close())
const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
t.teardown(() => admin.end({ timeout: 1 }))

let dbCount = 0
interface Instance {
  store: PostgresStateStore
  leadership: PgLeadership
}

async function twoInstances(t: Test, tuning: Partial<ConstructorParameters<typeof PgLeadership>[0]> = {}): Promise<[Instance, Instance]> {
  const url = await pg.createDatabase(`lead_${++dbCount}`)
  const make = async (id: string): Promise<Instance> => {
    const store = await PostgresStateStore.open(url, { instanceId: id })
    t.teardown(() => store.close())
    return { store, leadership: new PgLeadership({ url, store, instanceId: id, ...tuning }) }
  }
  return [await make('gw-a'), await make('gw-b')]
}

/** Pid of the session holding the push lock, as an operator would find it. */
async function lockHolder(): Promise<number | null> {
  const rows = await admin<Array<{ pid: number }>>`
    select pid from pg_locks
    where locktype = 'advisory' and granted
      and ((classid::bigint << 32) | objid::bigint) = ${PUSH_LOCK_KEY}::bigint`
  return rows[0]?.pid ?? null
}

function held(t: Test, lease: Lease | null): Lease {
  if (lease === null) throw new Error('expected to get the lease')
  t.teardown(() => lease.release())
  return lease
}

async function lost(signal: AbortSignal): Promise<unknown> {
  if (!signal.aborted) await once(signal, 'abort')
  return signal.reason
}

t.test('one holder at a time; released, the other instance gets it', async (t) => {
  const [a, b] = await twoInstances(t)
  const leaseA = held(t, await a.leadership.acquire())
  t.equal(await b.leadership.acquire(), null, 'B: another instance leads')
  t.equal(await a.leadership.acquire(), null, 'A itself cannot take it twice (a second run on the same instance)')
  t.not(await lockHolder(), null)
  await leaseA.release()
  t.equal(await lockHolder(), null, 'released at once, not when a pool gets round to it')
  const leaseB = held(t, await b.leadership.acquire())
  t.notOk(leaseB.signal.aborted)
  const [activity] = await admin`select application_name from pg_stat_activity where pid = ${await lockHolder()}`
  t.equal(activity?.application_name, 'cx-recording-gateway lock gw-b', 'an operator can see which instance holds it')
})

t.test('the lock session terminated mid-run: the lease aborts, plan writes are refused, facts still land', async (t) => {
  const [a, b] = await twoInstances(t)
  const leaseA = held(t, await a.leadership.acquire())
  // A is leading: its plan writes go through the lock session.
  await a.store.advanceCursor(1_000)
  await a.store.upsertPending(pendingCall('P1'))
  t.equal((await b.store.load()).cursor, 1_000)

  const pid = await lockHolder()
  await admin`select pg_terminate_backend(${pid})`
  const reason = await lost(leaseA.signal)
  t.type(reason, LeadershipLostError)
  t.match(String((reason as Error).message), /push leadership lost: the lock session closed/)

  // A late cursor or pending write of the old leader fails and changes nothing (no crash either:
  // postgres.js would write to the dead connection if asked).
  await t.rejects(a.store.advanceCursor(9_000), LeadershipLostError)
  await t.rejects(a.store.upsertPending(pendingCall('P2')), LeadershipLostError)
  await t.rejects(a.store.removePending('P1'), LeadershipLostError)
  await t.rejects(a.store.prune(Number.MAX_SAFE_INTEGER), LeadershipLostError)
  // A fact it learned before noticing ("CX accepted L1") is still worth recording.
  await a.store.recordAccepted('L1', 5)

  const leaseB = held(t, await b.leadership.acquire())
  t.notOk(leaseB.signal.aborted, 'B takes over at once')
  const view = await b.store.load()
  t.equal(view.cursor, 1_000, 'the cursor A committed while leading, not the one it tried after losing')
  t.same(
    view.pending.map((p) => p.dialogId),
    ['P1']
  )
  t.same([...(await b.store.settled(['L1']))], [['L1', 'accepted']], 'the new leader will not push L1 again')

  // A's run ends and releases: its store writes through the pool again (no lease bound).
  await leaseA.release()
  await b.store.advanceCursor(2_000)
  t.equal((await b.store.load()).cursor, 2_000)
})

t.test('a frozen lock session (no answer to the heartbeat) counts as lost, and the lock comes free', async (t) => {
  const [a, b] = await twoInstances(t, { heartbeatMs: 100, heartbeatTimeoutMs: 400 })
  const leaseA = held(t, await a.leadership.acquire())
  const pid = await lockHolder()
  t.ok(pid)
  // SIGSTOP: the backend stops answering with its socket open, as behind a network partition.
  process.kill(pid!, 'SIGSTOP')
  t.teardown(() => {
    try {
      process.kill(pid!, 'SIGCONT')
    } catch {
      // Already gone.
    }
  })
  const reason = await lost(leaseA.signal)
  t.match(String((reason as Error).message), /did not answer a heartbeat within 400 ms/)
  t.equal(await b.leadership.acquire(), null, 'the frozen session still holds the lock: nobody else runs meanwhile')
  process.kill(pid!, 'SIGCONT')
  // The lease dropped its socket: the backend, once running again, finds it closed and ends.
  for (;;) {
    const leaseB = await b.leadership.acquire()
    if (leaseB !== null) {
      held(t, leaseB)
      t.pass('B takes over once the old session ended')
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
})

t.test('a leader that stops talking (hung process) loses its session to idle_session_timeout', async (t) => {
  // No heartbeat at all: the server must end the session by itself.
  const [a, b] = await twoInstances(t, { heartbeatMs: 3_600_000, idleSessionTimeoutMs: 300 })
  const leaseA = held(t, await a.leadership.acquire())
  const reason = await lost(leaseA.signal)
  t.match(String((reason as Error).message), /the lock session closed/)
  held(t, await b.leadership.acquire())
  t.pass('B takes over')
})

t.test('the state database down: acquire rejects (the run fails, is not skipped); back up, it works', async (t) => {
  const [a] = await twoInstances(t)
  await pg.stop()
  let restarted = false
  t.teardown(async () => {
    if (!restarted) await pg.start()
  })
  await t.rejects(a.leadership.acquire(), { name: 'StateDatabaseError', message: /^state database: / })
  await pg.start()
  restarted = true
  const lease = held(t, await a.leadership.acquire())
  await a.store.advanceCursor(77)
  await lease.release()
  t.equal((await a.store.load()).cursor, 77, 'the pool reconnected by itself')
})
