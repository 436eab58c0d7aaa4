import { access } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { testConfig } from './helpers/gateway-config.js'
import { FileStateStore } from '../src/state/file-store.js'
import { tempDir } from './helpers/sox.js'
import { ADMIN_TOKEN, baseTime, cxLeg, eleveoLeg, startPushRig } from './push-rig.js'

function messages(logs: string[]): string[] {
  return logs.map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '')
}

t.test('the scheduler runs the job every PUSH_INTERVAL_S, never two at once, and finishes the current run on close', async (t) => {
  const b = baseTime()
  const activities = Array.from({ length: 24 }, (_, i) => cxLeg(`S${i}`, '1001', b + i * 1000))
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, '1001', b + i * 1000, b + i * 1000 + 500))
  // 24 messages one at a time at 60 ms each: the first run outlasts the 1 s interval.
  const rig = await startPushRig(t, {
    activities,
    legs,
    env: { PUSH_INTERVAL_S: '1', CX_CONCURRENCY: '1', ADMIN_TOKEN },
    cxSim: { latencyMs: 60 }
  })

  // Wait for the first scheduled run to start, then ask for a manual one: the guard is shared.
  while (rig.runner.running === null) await new Promise((r) => setTimeout(r, 20))
  t.equal(rig.runner.running?.trigger, 'schedule')
  const res = await rig.app.inject({ method: 'POST', url: '/admin/push-runs', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(res.statusCode, 409)
  t.equal(res.json<{ runId: string }>().runId, rig.runner.running?.id)

  // Let ticks pass until a second scheduled run has finished.
  const finished = (): number => messages(rig.logs).filter((m) => m === 'push run ok').length
  while (finished() < 2) await new Promise((r) => setTimeout(r, 50))

  // Close while (possibly) another run is under way: close waits for it.
  const more = Array.from({ length: 10 }, (_, i) => cxLeg(`Z${i}`, '1002', b + 60_000 + i * 1000))
  rig.cx.activities.push(...more)
  rig.eleveo.legs.push(...more.map((a, i) => eleveoLeg(`z${i}`, a.dialogId, '1002', b + 60_000 + i * 1000, b + 60_000 + i * 1000 + 500)))
  // New legs lie before the cursor: only a backfill reads them. Start one and close at once.
  // A scheduled tick may be running right now: the guard refuses until it is done.
  for (;;) {
    try {
      rig.runner.start('backfill', { start: b, end: b + 120_000 })
      break
    } catch {
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  await rig.app.close()
  const postsAtClose = rig.cx.requests.length

  const seq = messages(rig.logs).filter((m) => m === 'push run started' || m.startsWith('push run ok') || m.startsWith('push run failed'))
  for (let i = 0; i < seq.length; i++) {
    t.equal(seq[i], i % 2 === 0 ? 'push run started' : 'push run ok', `run events alternate (${i})`)
  }
  t.ok(seq.length >= 6, `${seq.length / 2} runs, none overlapping`)
  t.equal(rig.cx.received.length, 34, 'every link, the backfill finished before close returned')
  t.ok([...rig.cx.countsById().values()].every((n) => n === 1), 'none twice')

  await new Promise((r) => setTimeout(r, 1500))
  t.equal(rig.cx.requests.length, postsAtClose, 'no tick after close')
  const store = await FileStateStore.open(rig.stateDir)
  t.match(await store.latestRunReport(), { trigger: 'backfill', status: 'ok', pushed: 10 })
  await store.close()
})

t.test('a run still going at shutdown is aborted after SHUTDOWN_TIMEOUT_MS, between two messages', async (t) => {
  const b = baseTime()
  const activities = Array.from({ length: 50 }, (_, i) => cxLeg(`Q${i}`, '1001', b + i * 1000))
  const legs = activities.map((a, i) => eleveoLeg(`e${i}`, a.dialogId, '1001', b + i * 1000, b + i * 1000 + 500))
  const rig = await startPushRig(t, { activities, legs, env: { CX_CONCURRENCY: '1', SHUTDOWN_TIMEOUT_MS: '200' }, cxSim: { latencyMs: 50 } })
  const run = rig.runner.start('manual')
  while (rig.cx.received.length < 2) await new Promise((r) => setTimeout(r, 10))
  await rig.app.close()
  const report = await run.done
  t.match(report, { status: 'failed', error: /aborted: the gateway is shutting down/ })
  t.ok(rig.cx.received.length < 50, `stopped after ${rig.cx.received.length} of 50`)
  const store = await FileStateStore.open(rig.stateDir)
  t.teardown(() => store.close())
  const settled = await store.settled(rig.cx.received.map((r) => r.legId))
  // The message on the wire at the abort is let finish and its outcome recorded: nothing to double later.
  t.equal(settled.size, rig.cx.received.length, 'every link CX accepted is in the ledger, the one in flight at the abort included')
  t.equal((await store.load()).cursor, null, 'the unfinished window is not marked done')
})

t.test('with no CX configured there is no scheduler, no state and no state directory', async (t) => {
  const dir = await tempDir(t, 'cxgw-nopush-')
  const stateDir = join(dir, 'state')
  const app = await buildApp({ config: testConfig({ ELEVEO_BASE_URL: 'http://127.0.0.1:9', STATE_DIR: stateDir, PUSH_INTERVAL_S: '1' }), logger: false })
  t.teardown(() => app.close())
  t.equal(app.pushRunner, null)
  t.equal(app.stateStore, null)
  await t.rejects(access(stateDir), { code: 'ENOENT' })
})

t.test('a corrupt state file stops start-up with a message naming it', async (t) => {
  const rig = await startPushRig(t)
  await rig.app.close()
  const { writeFile } = await import('node:fs/promises')
  await writeFile(join(rig.stateDir, 'push-state.json'), '{"version":1,"cursor":')
  await t.rejects(rig.restart(), {
    name: 'StateFileError',
    message: new RegExp(`State file ${join(rig.stateDir, 'push-state.json')} is corrupt`)
  })
  // The rig's teardown closes rig.app again; harmless on a closed app.
})
