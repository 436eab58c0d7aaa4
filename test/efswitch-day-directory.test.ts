/*
 * A busy day directory: 100,000 recordings of one day in one directory (empty files, made in the temp
 * directory and removed afterwards), 10,000 of its calls in v_xml_cdr. A push run's look-ups list the
 * directory once, not once per call; the gateway finds a file that appears while it runs.
 */
import t from 'tap'
import { closeSync, openSync } from 'node:fs'
import { utimes } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import { DEFAULT_EFSWITCH_PATH_QUERY } from '../src/config.js'
import { EfswitchProvider } from '../src/providers/efswitch/provider.js'
import { dayDirectory, efswitchGateway, insertCdrRow, recordingFileName, startSwitch, writeRecording } from './helpers/efswitch-fixtures.js'

const FILES = 100_000
const CALLS_IN_DATABASE = 10_000
// Making 100,000 files and 10,000 look-ups takes minutes on a shared machine: the suite's 600 s limit
// (package.json) applies, not a shorter one of its own.

const sw = await startSwitch(t)
const { databaseUrl, cdr, root } = sw
const day = dayDirectory(root, '2026-12-05')
const t0 = Date.parse('2026-12-05T00:00:00Z')

interface DayCall {
  callId: string
  agentExtension: string
  ani: string
  start: number
}
/** Call i of the day: a Call-ID as a SIP phone makes them, one of 50 agents, a distinct caller. */
function dayCall(i: number): DayCall {
  return { callId: `${(i * 2654435761 % 4294967296).toString(16)}${i.toString(36)}@pc${i % 97}.example.com`, agentExtension: String(1000 + (i % 50)), ani: `+4144${String(i).padStart(7, '0')}`, start: t0 + i * 800 }
}

const real = await writeRecording(day, { dialogId: 'real-call@pc1.example.com', agentExtension: '1001', ani: '+41441234567', start: t0 + 1_000, seconds: 1 })
await insertCdrRow(cdr, { callId: 'real-call@pc1.example.com', recordPath: day })
for (let i = 0; i < FILES; i++) {
  const c = dayCall(i)
  closeSync(openSync(join(day, recordingFileName({ dialogId: c.callId, agentExtension: c.agentExtension, ani: c.ani, start: c.start })), 'w'))
}
const ids = Array.from({ length: CALLS_IN_DATABASE }, (_, i) => dayCall(i).callId)
await cdr`
  insert into v_xml_cdr (xml_cdr_uuid, leg, start_stamp, record_path, json)
  select gen_random_uuid(), 'a', now(), ${day}, jsonb_build_object('variables', jsonb_build_object('sip_h_X-CALL-ID', id))
  from unnest(${ids}::text[]) as id`
// Yesterday's directory: nothing has changed in it for an hour.
const hourAgo = new Date(Date.now() - 3_600_000)
await utimes(day, hourAgo, hourAgo)

t.test(`a push run's ${CALLS_IN_DATABASE} look-ups in a ${FILES}-file directory list it once`, async (t) => {
  let listings = 0
  let namesListed = 0
  const provider = new EfswitchProvider({
    databaseUrl,
    recordingsRoot: root,
    pathQuery: DEFAULT_EFSWITCH_PATH_QUERY,
    log: Fastify({ logger: false }).log,
    onListing: (r) => {
      listings++
      namesListed += r.names
    }
  })
  t.teardown(() => provider.close())
  // As the push job looks calls up: a few at a time, one after another.
  let next = 0
  let wrong = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < CALLS_IN_DATABASE; i = next++) {
      const c = dayCall(i)
      const legs = await provider.findLegs(c.callId)
      const leg = legs[0]
      if (legs.length !== 1 || leg?.agentExtension !== c.agentExtension || leg.ani !== c.ani || leg.start !== c.start) wrong++
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  t.equal(wrong, 0, 'every call found exactly its own file')
  t.equal(listings, 1, 'one listing for the whole run')
  t.equal(namesListed, FILES + 1)
})

t.test('over HTTP: served from the index; a file appearing while the gateway runs is found within a second', async (t) => {
  const app = await efswitchGateway(t, sw)
  const listings = async (): Promise<number> => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    return Number(/^gateway_efswitch_directory_listings_total (\d+)/m.exec(text)?.[1] ?? NaN)
  }

  const res = await app.inject({ method: 'GET', url: `/recordings/real-call@pc1.example.com:1001:+41441234567:${t0 + 1_000}` })
  t.equal(res.statusCode, 200)
  t.ok(res.rawPayload.equals(real.bytes))
  for (let i = 0; i < 5; i++) {
    const c = dayCall(i * 1999)
    const empty = await app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(`${c.callId}:${c.agentExtension}:${c.ani}:${c.start}`)}` })
    // The day's other files are empty: found, and refused as unreadable WAVs, not missing.
    t.equal(empty.statusCode, 502, c.callId)
    t.match(empty.json(), { code: 'GW_ERR_BAD_WAV' })
  }
  t.equal(await listings(), 1, 'one listing for all of them')

  // Today's directory: calls keep ending while the gateway runs.
  for (let i = 0; i < 3; i++) {
    const callId = `appearing-${i}@pc2.example.com`
    const start = t0 + 90_000_000 + i
    await insertCdrRow(cdr, { callId, recordPath: day })
    const legId = `${callId}:1002:+41449999999:${start}`
    t.equal((await app.inject({ method: 'GET', url: `/recordings/${legId}` })).statusCode, 404, 'not written yet')
    const file = await writeRecording(day, { dialogId: callId, agentExtension: '1002', ani: '+41449999999', start, seconds: 0.3, freq: 500 + i * 100 })
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const found = await app.inject({ method: 'GET', url: `/recordings/${legId}` })
    t.equal(found.statusCode, 200, `${callId}: found a second after it appeared`)
    t.ok(found.rawPayload.equals(file.bytes))
  }
  const after = await listings()
  t.ok(after <= 1 + 3 * 2, `listed again only for the changes (${after} listings in all)`)
})
