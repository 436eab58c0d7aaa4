import { join } from 'node:path'
import postgres from 'postgres'
import t from 'tap'
import { startPostgres } from './helpers/postgres.js'
import { makeTone, tempDir } from './helpers/sox.js'
import { baseTime, cxLeg, eleveoLeg, legIdOf, startPushRig } from './push-rig.js'

/*
 * Issue 14 item 6, state store side: a frozen state database (SIGSTOP: sockets open, nothing answers,
 * so the server's statement_timeout never fires) must fail the push run within the client-side
 * deadline, STATE_DATABASE_TIMEOUT_MS, with a message saying so; recordings are served meanwhile.
 */

t.test('a frozen state database fails the push run within STATE_DATABASE_TIMEOUT_MS; retrieval is unaffected', async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const url = await pg.createDatabase('frozen_state')
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  t.teardown(() => admin.end({ timeout: 1 }))

  const b = baseTime()
  const wavPath = await makeTone(join(await tempDir(t, 'cxgw-frozen-'), 'a.wav'), { seconds: 0.4, freq: 600 })
  const first = cxLeg('dlg-frozen', '1001', b)
  const rig = await startPushRig(t, {
    activities: [first],
    legs: [{ ...eleveoLeg('z1', 'dlg-frozen', '1001', b, b + 400), wavPath }],
    env: { STATE_DATABASE_URL: url, STATE_DATABASE_TIMEOUT_MS: '1000', INSTANCE_ID: 'frozen-test' }
  })
  t.match(await rig.run(), { status: 'ok', pushed: 1 })

  // Freeze the backends of the store's pool (the lock session stays alive, so the run gets its lease
  // and then meets the frozen pool).
  const rows = await admin<Array<{ pid: number }>>`select pid from pg_stat_activity where application_name = 'cx-recording-gateway frozen-test'`
  t.ok(rows.length > 0, `${rows.length} pool backends to freeze`)
  for (const { pid } of rows) process.kill(pid, 'SIGSTOP')
  const thaw = (): void => {
    for (const { pid } of rows) {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {
        // already gone
      }
    }
  }
  t.teardown(thaw)

  const report = await rig.run()
  t.equal(report.status, 'failed')
  t.match(report.error, /state database: no answer within 1000 ms/)
  t.ok(rig.logs.some((l) => l.includes('"push run failed"') && l.includes('no answer within 1000 ms')), 'the failure is logged')

  const audio = await rig.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legIdOf(first))}` })
  t.equal(audio.statusCode, 200, 'recordings are served while the state database is frozen')
  thaw()
})
