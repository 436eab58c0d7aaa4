import { DEFAULT_CALLREC_LEGS_QUERY } from '../../src/config.js'
import t from 'tap'
import { UpstreamError } from '../../src/errors.js'
import { CallrecProvider, type CallrecProviderOptions } from '../../src/providers/eleveo/callrec/provider.js'
import { insertCouples, type SimCouple } from '../../simulators/callrec-db.js'
import { startCallrecDatabase } from './callrec-database.js'

const { pg, databaseUrl, sql } = await startCallrecDatabase(t)

function provider(overrides: Partial<CallrecProviderOptions> = {}): CallrecProvider {
  const p = new CallrecProvider({
    // Legs come from the database only; no servlet is asked.
    baseUrl: 'http://127.0.0.1:9',
    username: 'u',
    password: 'p',
    timeoutMs: 5000,
    databaseUrl,
    legsQuery: DEFAULT_CALLREC_LEGS_QUERY,
    dialogKey: 'JTAPI_CISCO_ID',
    timeZone: 'Europe/Prague',
    holdMaxGapS: 900,
    ...overrides
  })
  t.teardown(() => p.close())
  return p
}

function cpl(sid: string, dialogId: string, agentExtension: string | null, start: string, stop: string | null, ani: string | null = '+420601000111'): SimCouple {
  return { sid, dialogId, agentExtension, ani, start, stop }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

/** Legs as plain values with ISO times, for readable assertions. */
async function legsOf(p: CallrecProvider, dialogId: string) {
  return (await p.findLegs(dialogId)).map((l) => ({
    agent: l.agentExtension,
    ani: l.ani,
    start: iso(l.start),
    end: iso(l.end),
    sids: l.segments.map((s) => s.id),
    dialogId: l.dialogId
  }))
}

await insertCouples(sql, [
  // Spring change in Prague: a hold from 01:55 CET to 03:05 CEST lasted 10 minutes, so the parts join.
  // Read as UTC the gap would be 70 minutes and they would not.
  cpl('spring-2', 'DST-SPRING', '1001', '2026-03-29 03:05:00', '2026-03-29 03:20:00'),
  cpl('spring-1', 'DST-SPRING', '1001', '2026-03-29 01:40:00', '2026-03-29 01:55:00'),
  // Autumn change: a couple from 02:40 CEST to 02:05 CET (the second 02:05) lasted 25 minutes.
  cpl('autumn-1', 'DST-AUTUMN', '1002', '2026-10-25 02:40:00', '2026-10-25 02:05:00'),
  cpl('autumn-2', 'DST-AUTUMN', '1003', '2026-10-25 03:30:00.500', null),
  // A → B → A with short gaps: three legs; then A's hold within the limit: joined.
  cpl('aba-1', 'ABA', '2001', '2026-12-06 10:00:00', '2026-12-06 10:05:00'),
  cpl('aba-2', 'ABA', '2002', '2026-12-06 10:05:01', '2026-12-06 10:08:00'),
  cpl('aba-3', 'ABA', '2001', '2026-12-06 10:08:01', '2026-12-06 10:12:00'),
  cpl('aba-4', 'ABA', '2001', '2026-12-06 10:20:00', '2026-12-06 10:25:00'),
  cpl('aba-5', 'ABA', '2001', '2026-12-06 10:40:00', '2026-12-06 10:41:00'),
  // Columns CallREC may leave empty.
  cpl('nulls-1', 'NULLS', null, '2026-12-06 11:00:00', null, null)
])
await insertCouples(sql, [{ ...cpl('other-key', 'DST-SPRING', '1009', '2026-03-29 01:41:00', '2026-03-29 01:42:00'), key: 'SOME_OTHER_KEY' }])

t.test('local times in Europe/Prague across both DST changes of 2026', async (t) => {
  const p = provider()
  t.same(await legsOf(p, 'DST-SPRING'), [
    { agent: '1001', ani: '+420601000111', start: '2026-03-29T00:40:00.000Z', end: '2026-03-29T01:20:00.000Z', sids: ['spring-1', 'spring-2'], dialogId: 'DST-SPRING' }
  ], 'one leg of two couples; the couple under another key is not this call')
  t.same(await legsOf(p, 'DST-AUTUMN'), [
    { agent: '1002', ani: '+420601000111', start: '2026-10-25T00:40:00.000Z', end: '2026-10-25T01:05:00.000Z', sids: ['autumn-1'], dialogId: 'DST-AUTUMN' },
    { agent: '1003', ani: '+420601000111', start: '2026-10-25T02:30:00.500Z', end: null, sids: ['autumn-2'], dialogId: 'DST-AUTUMN' }
  ], 'a stop in the repeated hour is read after its start; an open couple has no end')
})

t.test('the zone is configuration: the same rows read in UTC', async (t) => {
  const p = provider({ timeZone: 'UTC' })
  t.same((await legsOf(p, 'DST-SPRING')).map((l) => [l.start, l.sids]), [
    ['2026-03-29T01:40:00.000Z', ['spring-1']],
    ['2026-03-29T03:05:00.000Z', ['spring-2']]
  ], 'read as UTC, the parts are 70 minutes apart and stay two legs')
})

t.test('adjacency: A → B → A gives three legs; a hold within ELEVEO_HOLD_MAX_GAP_S joins', async (t) => {
  t.same((await legsOf(provider(), 'ABA')).map((l) => [l.agent, l.sids]), [
    ['2001', ['aba-1']],
    ['2002', ['aba-2']],
    ['2001', ['aba-3', 'aba-4', 'aba-5']]
  ], '8 minutes then exactly 15 minutes (900 s) of hold are joined')
  t.same((await legsOf(provider({ holdMaxGapS: 480 }), 'ABA')).map((l) => l.sids), [['aba-1'], ['aba-2'], ['aba-3', 'aba-4'], ['aba-5']])
  t.same((await legsOf(provider({ holdMaxGapS: 0 }), 'ABA')).map((l) => l.sids), [['aba-1'], ['aba-2'], ['aba-3'], ['aba-4'], ['aba-5']])
})

t.test('empty columns, unknown calls, another dialog key', async (t) => {
  const p = provider()
  t.same(await legsOf(p, 'NULLS'), [{ agent: '', ani: '', start: '2026-12-06T10:00:00.000Z', end: null, sids: ['nulls-1'], dialogId: 'NULLS' }])
  t.same(await p.findLegs('NO-SUCH-CALL'), [])
  t.same(await p.findLegs("x' or '1'='1"), [], 'the dialogId is a parameter, never SQL')
  t.same((await legsOf(provider({ dialogKey: 'SOME_OTHER_KEY' }), 'DST-SPRING')).map((l) => l.sids), [['other-key']], 'ELEVEO_DIALOG_KEY picks the external data')
})

t.test('ELEVEO_LEGS_QUERY: other column types, and answers that break the contract', async (t) => {
  const base = `from callrec.couples c join callrec.couple_extdata x on x.cplid = c.id where x.value = $1 and x.key = $2`
  // timestamptz columns are instants already; text columns are local times like timestamp ones.
  const tz = provider({ legsQuery: `select c.sid, c.start_ts at time zone 'Europe/Prague' as start_ts, (c.stop_ts at time zone 'Europe/Prague') as stop_ts, c.finalcallednr as agent_extension, c.callingnr as ani ${base}`, timeZone: 'UTC' })
  t.same((await legsOf(tz, 'DST-SPRING')).map((l) => [l.start, l.end, l.sids]), [['2026-03-29T00:40:00.000Z', '2026-03-29T01:20:00.000Z', ['spring-1', 'spring-2']]])
  const text = provider({ legsQuery: `select c.sid, c.start_ts::text as start_ts, c.stop_ts::varchar as stop_ts, c.finalcallednr as agent_extension, c.callingnr as ani ${base}` })
  t.same((await legsOf(text, 'DST-SPRING')).map((l) => l.start), ['2026-03-29T00:40:00.000Z'])
  const ordered = provider({ legsQuery: `${DEFAULT_CALLREC_LEGS_QUERY} order by c.start_ts desc` })
  t.same((await legsOf(ordered, 'ABA')).length, 3, 'row order does not matter')

  const missing = provider({ legsQuery: `select c.sid, c.start_ts, c.finalcallednr as agent_extension, c.callingnr as ani ${base}` })
  await t.rejects(missing.findLegs('ABA'), { statusCode: 502, message: /has no column stop_ts \(it must return sid, start_ts, stop_ts, agent_extension, ani\)/ })
  const badTime = provider({ legsQuery: `select c.sid, c.callingnr as start_ts, c.stop_ts, c.finalcallednr as agent_extension, c.callingnr as ani ${base}` })
  await t.rejects(badTime.findLegs('ABA'), { statusCode: 502, message: /start_ts must be a timestamp, got "\+420601000111"/ })
  const broken = provider({ legsQuery: `select * from callrec.no_such_table where $1::text is not null and $2::text is not null` })
  const err = await broken.findLegs('ABA').catch((e: unknown) => e)
  t.ok(err instanceof UpstreamError, 'a query the database refuses is a 502, not a crash')
  t.match((err as Error).message, /legs query \(ELEVEO_LEGS_QUERY or the default\) failed \(SQLSTATE 42P01/)
})

t.test('the database down: 503, and the next look-up reconnects', async (t) => {
  const p = provider()
  t.equal((await p.findLegs('ABA')).length, 3)
  await pg.stop()
  const err = await p.findLegs('ABA').catch((e: unknown) => e)
  await pg.start()
  t.match(err, { statusCode: 503, message: /Upstream eleveo unavailable: database (not reachable|refused)/ })
  t.notMatch(String((err as Error).message), /postgres:\/\//, 'no connection URL in the message')
  t.equal((await p.findLegs('ABA')).length, 3)
})
