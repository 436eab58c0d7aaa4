import { once } from 'node:events'
import t from 'tap'
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js'
import { tempDir } from './helpers/sox.js'
import { baseTime, legIdOf, pushEnv, transferCalls } from './push-rig.js'
import { startCxSimulator } from '../simulators/cx.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'
import { CX_SECRETS, ELEVEO_PASSWORD } from './push-rig.js'

/*
 * kill -9 at two points of a run: the real gateway (src/server.ts) runs as a child process against the
 * simulators on real sockets and is SIGKILLed from inside the CX simulator, right after CX recorded a
 * message and before the answer leaves, i.e. in the window between "CX has it" and "the ledger has it".
 * After each restart the job carries on; in the end every link reached CX, and the only doubles are
 * messages that were in flight at a kill.
 */

const CONCURRENCY = 4

type Gateway = GatewayProcess

async function until(cond: () => boolean, what: string, gw: Gateway): Promise<void> {
  const deadline = Date.now() + 60_000
  while (!cond()) {
    if (gw.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`gave up waiting for ${what}; gateway output:\n${gw.lines.slice(-20).join('\n')}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('kill -9 mid-run twice, restart: every link reaches CX, doubles only from messages in flight', async (t) => {
  const b = baseTime()
  // 150 calls with a transfer each: 300 legs.
  const { activities, legs } = transferCalls(150, b)

  const killAt = [60, 200]
  const killedOn: string[] = []
  let current: Gateway | null = null
  const cx = await startCxSimulator({
    clientSecret: CX_SECRETS.clientSecret,
    password: CX_SECRETS.password,
    activities,
    latencyMs: 2,
    onAccept: (m) => {
      if (current !== null && cx.received.length === killAt[killedOn.length]) {
        // CX has recorded this message; the gateway will never see the answer.
        killedOn.push(m.id)
        current.child.kill('SIGKILL')
      }
    }
  })
  t.teardown(() => cx.close())
  const eleveo = await startEleveoSimulator({ password: ELEVEO_PASSWORD, legs })
  t.teardown(() => eleveo.close())
  const stateDir = await tempDir(t, 'cxgw-crash-')
  const env = pushEnv(cx, eleveo, stateDir, { PUSH_INTERVAL_S: '1', CX_CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'info' })

  const total = activities.length
  const unique = (): number => cx.countsById().size
  for (let phase = 0; phase <= killAt.length; phase++) {
    const gw = startGatewayProcess(t, `phase-${phase}`, env)
    current = gw
    if (phase < killAt.length) {
      const [, signal] = (await once(gw.child, 'exit')) as [number | null, NodeJS.Signals | null]
      t.equal(signal, 'SIGKILL', `phase ${phase}: killed at message ${killAt[phase]}`)
      t.ok(unique() < total, `phase ${phase}: killed mid-run (${unique()} of ${total} links so far)`)
    } else {
      await until(() => unique() === total && gw.lines.some((l) => l.includes('"msg":"push run ok"')), 'the final run', gw)
      gw.child.kill('SIGTERM')
      const [code] = (await once(gw.child, 'exit')) as [number | null]
      t.equal(code, 0, 'graceful exit')
      const errors = gw.lines.filter((l) => l.includes('"level":50') || l.startsWith('stderr'))
      t.same(errors, [], 'no error logged in the final phase')
    }
  }

  const counts = cx.countsById()
  const expected = new Set(activities.map(legIdOf))
  t.same(new Set(cx.received.map((r) => r.legId)), expected, 'every leg linked')
  const doubles = [...counts].filter(([, n]) => n > 1)
  t.ok(doubles.every(([, n]) => n === 2), 'nothing more than twice')
  t.ok(doubles.length <= CONCURRENCY * killAt.length, `${doubles.length} doubled messages for ${killAt.length} kills at CX_CONCURRENCY=${CONCURRENCY}`)
  for (const id of killedOn) t.equal(counts.get(id), 2, 'the message CX took at the kill was pushed again (the crash window was hit)')
  // Each double was in flight at a kill: received shortly before the kill, sent again after the restart.
  const seenAt = new Map<string, number[]>()
  cx.received.forEach((r, i) => seenAt.set(r.id, [...(seenAt.get(r.id) ?? []), i]))
  for (const [id] of doubles) {
    const [first] = seenAt.get(id)!
    // received[k - 1] is the message the kill happened on; the others on the wire arrive around it.
    const nearKill = killAt.some((k) => first! >= k - CONCURRENCY && first! < k + CONCURRENCY)
    t.ok(nearKill, `double ${id} was first received as message #${first! + 1}, in flight at a kill`)
  }
})
