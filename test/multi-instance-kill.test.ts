import { once } from 'node:events'
import t from 'tap'
import { startPostgres } from './helpers/postgres.js'
import { tempDir } from './helpers/sox.js'
import { inspect, instanceEnv, receivedFrom, senderOf, startGatewayProcess, until, type GatewayProcess } from './helpers/multi-instance.js'
import { CX_SECRETS, ELEVEO_PASSWORD, baseTime, legIdOf, transferCalls } from './push-rig.js'
import { startCxSimulator } from '../simulators/cx.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'

/*
 * Two real gateway processes (src/server.ts) on one PostgreSQL, both ticking every second. Whichever
 * leads is SIGKILLed from inside the CX simulator, right after CX recorded a message and before its
 * answer leaves. The other one takes over on its next tick and completes the window. Counted exactly:
 * the only links pushed twice are those CX accepted from the killed leader that its ledger does not
 * hold, i.e. the messages in flight at the kill (at most CX_CONCURRENCY, at least the one it died on).
 */

const CONCURRENCY = 4
const KILL_AT = 60

t.test('kill -9 of the leader mid-run: the other instance completes; doubles are exactly the messages in flight', async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const url = await pg.createDatabase('kill')
  const sql = inspect(t, url)

  const b = baseTime()
  const { activities, legs } = transferCalls(100, b)

  const gateways = new Map<string, GatewayProcess>()
  let killed: { id: string; legId: string; survivorRunsOk: number } | null = null
  const runsOk = (g: GatewayProcess): number => g.lines.filter((l) => l.includes('"msg":"push run ok"')).length
  const cx = await startCxSimulator({
    clientSecret: CX_SECRETS.clientSecret,
    password: CX_SECRETS.password,
    activities,
    latencyMs: 2,
    onAccept: (m) => {
      if (killed !== null || cx.received.length !== KILL_AT) return
      const sender = (m.message.header as { sender: { id: string } }).sender.id
      const id = [...gateways.keys()].find((k) => senderOf(k) === sender)!
      const survivor = [...gateways.values()].find((g) => g.id !== id)!
      killed = { id, legId: m.legId, survivorRunsOk: runsOk(survivor) }
      gateways.get(id)!.child.kill('SIGKILL')
    }
  })
  t.teardown(() => cx.close())
  const eleveo = await startEleveoSimulator({ password: ELEVEO_PASSWORD, legs })
  t.teardown(() => eleveo.close())

  for (const id of ['gw-a', 'gw-b']) {
    const env = instanceEnv(cx, eleveo, url, await tempDir(t, `cxgw-kill-${id}-`), id, {
      PUSH_INTERVAL_S: '1',
      CX_CONCURRENCY: String(CONCURRENCY),
      LOG_LEVEL: 'info'
    })
    gateways.set(id, startGatewayProcess(t, id, env))
  }

  await until(() => killed !== null, `message ${KILL_AT}`)
  const k = killed!
  const victim = gateways.get(k.id)!
  const survivor = [...gateways.values()].find((g) => g.id !== k.id)!
  if (!victim.exited()) await once(victim.child, 'exit')
  t.equal(victim.child.signalCode, 'SIGKILL', `${k.id} (the leader) was killed at message ${KILL_AT}`)
  t.ok(cx.countsById().size < activities.length, 'mid-run')

  await until(
    () => cx.countsById().size === activities.length && runsOk(survivor) > k.survivorRunsOk,
    `${survivor.id} to complete the window`
  )
  survivor.child.kill('SIGTERM')
  const [code] = (await once(survivor.child, 'exit')) as [number | null]
  t.equal(code, 0, `${survivor.id} exits cleanly`)
  t.same(
    survivor.lines.filter((l) => l.includes('"level":50') || l.startsWith('stderr')),
    [],
    `${survivor.id} logged no error`
  )

  // What the killed leader left: legs CX accepted from it, and the ones its ledger holds.
  const fromVictim = new Set(receivedFrom(cx, k.id).map((r) => r.legId))
  const recorded = new Set((await sql<Array<{ leg_id: string }>>`select leg_id from push_ledger where instance = ${k.id}`).map((r) => r.leg_id))
  t.ok([...recorded].every((l) => fromVictim.has(l)), 'it recorded only what CX accepted')
  const inFlight = [...fromVictim].filter((l) => !recorded.has(l)).sort()
  t.ok(inFlight.includes(k.legId), 'the message it died on is one of them (the crash window was hit)')
  t.ok(inFlight.length >= 1 && inFlight.length <= CONCURRENCY, `${inFlight.length} in flight at the kill, CX_CONCURRENCY=${CONCURRENCY}`)

  const counts = new Map<string, number>()
  for (const r of cx.received) counts.set(r.legId, (counts.get(r.legId) ?? 0) + 1)
  t.same(new Set(counts.keys()), new Set(activities.map(legIdOf)), 'every leg linked')
  const doubled = [...counts].filter(([, n]) => n > 1)
  t.ok(
    doubled.every(([, n]) => n === 2),
    'nothing more than twice'
  )
  t.same(
    doubled.map(([l]) => l).sort(),
    inFlight,
    'the doubles are exactly the messages in flight at the kill, no more'
  )
  const [ledger] = await sql<Array<{ n: number }>>`select count(*)::int as n from push_ledger`
  t.equal(ledger?.n, activities.length, 'the ledger holds every leg once')
  const [last] = await sql<Array<{ instance: string; status: string }>>`select instance, status from push_run_reports order by saved_at desc limit 1`
  t.same(last, { instance: survivor.id, status: 'ok' }, 'the last report names the survivor')
})
