/*
 * The switch's database host hangs (every PostgreSQL process SIGSTOPped): requests must get 503 +
 * Retry-After within EFSWITCH_QUERY_TIMEOUT_MS, not hang, and the same gateway serves again once the
 * host continues. statement_timeout cannot help here: it is enforced by the server that is frozen.
 */
import t from 'tap'
import { freezePostgres } from './helpers/pg-freeze.js'
import { silencingRelay } from './helpers/silencing-relay.js'
import { dayDirectory, efswitchGateway, insertCdrRow, startSwitch, writeRecording } from './helpers/efswitch-fixtures.js'

const QUERY_TIMEOUT_MS = 1_000

const sw = await startSwitch(t)
const { cdr, root } = sw
const day = dayDirectory(root, '2026-12-05')
const ani = '+41441234567'
const t0 = Date.parse('2026-12-05T10:00:00Z')

const calls = Array.from({ length: 10 }, (_, i) => `frozen-${i}@pbx.example.com`)
const files: { path: string; bytes: Buffer }[] = []
for (const [i, callId] of calls.entries()) {
  files.push(await writeRecording(day, { dialogId: callId, agentExtension: '1001', ani, start: t0 + i * 1000, seconds: 0.2 }))
  await insertCdrRow(cdr, { callId, recordPath: day })
}
const legId = (i: number): string => `${calls[i]}:1001:${ani}:${t0 + i * 1000}`

const app = await efswitchGateway(t, sw, {
  EFSWITCH_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
  // Every request asks the database.
  LEG_CACHE_TTL_MS: '0'
})

t.test('a frozen database: 503 + Retry-After within the deadline, then service again after SIGCONT', async (t) => {
  const warm = await app.inject({ method: 'GET', url: `/recordings/${legId(0)}` })
  t.equal(warm.statusCode, 200, 'a pooled connection exists before the freeze')

  const thaw = await freezePostgres(cdr)
  t.teardown(thaw)
  // More requests than the pool has connections (4): those waiting for one must get their answer too.
  const asked = calls.map((_, i) => app.inject({ method: i % 3 === 2 ? 'HEAD' : 'GET', url: `/recordings/${legId(i)}` }))
  // Generous against a busy machine, but far below forever: a request without a client-side deadline
  // waits as long as the host is frozen.
  const giveUp = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), QUERY_TIMEOUT_MS * 8).unref())
  const answers = await Promise.race([Promise.all(asked), giveUp])
  if (answers === 'hung') {
    t.fail(`requests still unanswered ${QUERY_TIMEOUT_MS * 8} ms into the freeze`)
  } else {
    for (const [i, res] of answers.entries()) {
      t.equal(res.statusCode, 503, `request ${i}`)
      t.equal(res.headers['retry-after'], '5', 'Retry-After')
      if (res.body !== '') {
        // The first deadline to pass retires the pool; queries still waiting in it end with it.
        t.match(res.json(), { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE', message: /^Upstream efswitch unavailable: database (query timed out|not reachable)/ })
      }
    }
  }
  const again = await Promise.race([app.inject({ method: 'GET', url: `/recordings/${legId(1)}` }), giveUp])
  t.not(again, 'hung', 'a request made during the freeze is answered as well')
  if (again !== 'hung') t.equal(again.statusCode, 503)

  thaw()
  const back = await app.inject({ method: 'GET', url: `/recordings/${legId(3)}` })
  t.equal(back.statusCode, 200, 'served again once the host continues, without a restart')
  t.ok(back.rawPayload.equals(files[3]!.bytes))
})

t.test('connections that went silent (a failover) are given up: the next request opens new ones', async (t) => {
  const relay = await silencingRelay(t, sw.pg.port, sw.databaseUrl)
  const app = await efswitchGateway(t, { databaseUrl: relay.url, root }, {
    EFSWITCH_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
    LEG_CACHE_TTL_MS: '0',
    MAX_EVENT_LOOP_DELAY_MS: '0'
  })
  // Four requests at once: the pool opens all four of its connections.
  const warm = await Promise.all([0, 1, 2, 3].map((i) => app.inject({ method: 'GET', url: `/recordings/${legId(i)}` })))
  t.same(warm.map((r) => r.statusCode), [200, 200, 200, 200])
  relay.silenceExisting()
  const stuck = await Promise.all([4, 5, 6, 7].map((i) => app.inject({ method: 'GET', url: `/recordings/${legId(i)}` })))
  t.same(stuck.map((r) => r.statusCode), [503, 503, 503, 503], 'every request on a silent connection ends at its deadline')
  const next = await app.inject({ method: 'GET', url: `/recordings/${legId(8)}` })
  t.equal(next.statusCode, 200, 'answered over a new connection, not queued behind the silent ones')
  t.ok(next.rawPayload.equals(files[8]!.bytes))
})
