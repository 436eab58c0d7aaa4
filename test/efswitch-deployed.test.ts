/*
 * EFSwitch as FusionPBX deploys it, black-box over HTTP (RECORDING_VENDOR=efswitch): CX's dialogId is
 * the SIP Call-ID in the channel variable sip_h_X-CALL-ID, a call has one CDR row per channel, and
 * record_path is a day directory shared by every call of that day.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { DEFAULT_EFSWITCH_PATH_QUERY } from '../src/config.js'
import { uuidOrNull } from '../src/providers/efswitch/record-path-lookup.js'
import { soxSamples } from './helpers/sox.js'
import {
  dayDirectory,
  efswitchGateway,
  insertCdrRow,
  jsonLog,
  recordingFileName,
  recordingsRoot,
  startSwitch,
  writeRecording
} from './helpers/efswitch-fixtures.js'
import { dataOf, findChunk, setDataSize, setRiffSize } from './helpers/wav-craft.js'
import { ffprobePackets, makeMp3 } from './helpers/mp3-tools.js'

const sw = await startSwitch(t)
const { cdr, root } = sw
const outside = await recordingsRoot(t)
const log = jsonLog()
const logLines = log.lines

function gateway(env: Record<string, string> = {}): Promise<FastifyInstance> {
  // Load shedding is tested elsewhere; on a machine shared by many test runs it would answer 503 here.
  return efswitchGateway(t, sw, env, log.stream)
}

const ani = '+41441234567'
const dec05 = dayDirectory(root, '2026-12-05')
const dec06 = dayDirectory(root, '2026-12-06')
const midnight = Date.parse('2026-12-06T00:00:00Z')

/** Other calls of the same day: the directory is shared, their files must never be served for ours. */
for (let i = 0; i < 20; i++) {
  await writeRecording(dec05, { dialogId: `${randomUUID()}@pc${i}.example.com`, agentExtension: '1001', ani, start: midnight - 3_600_000 + i, freq: 200 })
}

// One row: an inbound call answered by 1001.
const oneRow = 'a84b4c76e66710@pc33.example.com'
const oneRowFile = await writeRecording(dec05, { dialogId: oneRow, agentExtension: '1001', ani, start: midnight - 7_200_000, seconds: 1, freq: 300 })
await insertCdrRow(cdr, { callId: oneRow, recordPath: dec05 })

// Three rows (a-leg, the b-leg to 1001, the transfer to 1002), all recorded into the same day directory.
const threeRows = '3848276298220188511@atlanta.example.com'
const threeRowsFiles = [
  await writeRecording(dec05, { dialogId: threeRows, agentExtension: '1001', ani, start: midnight - 5_000_000, freq: 350 }),
  await writeRecording(dec05, { dialogId: threeRows, agentExtension: '1002', ani, start: midnight - 4_940_000, freq: 450 })
]
await insertCdrRow(cdr, { callId: threeRows, recordPath: dec05, leg: 'a' })
await insertCdrRow(cdr, { callId: threeRows, recordPath: dec05, leg: 'b' })
await insertCdrRow(cdr, { callId: threeRows, recordPath: dec05, leg: 'b', direction: 'outbound' })

// Six rows across midnight: 1001 answers before it, transfers to 1002 after it, takes the call back;
// two channels were not recorded (null record_path) and one row names the directory relatively.
const sixRows = 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com'
const sixRowsFiles = {
  first1001: await writeRecording(dec05, { dialogId: sixRows, agentExtension: '1001', ani, start: midnight - 30_000, freq: 500 }),
  only1002: await writeRecording(dec06, { dialogId: sixRows, agentExtension: '1002', ani, start: midnight + 20_000, freq: 600 }),
  back1001: await writeRecording(dec06, { dialogId: sixRows, agentExtension: '1001', ani, start: midnight + 60_000, freq: 700 })
}
await insertCdrRow(cdr, { callId: sixRows, recordPath: dec05, leg: 'a' })
await insertCdrRow(cdr, { callId: sixRows, recordPath: null, leg: 'b' })
await insertCdrRow(cdr, { callId: sixRows, recordPath: dec05, leg: 'b' })
await insertCdrRow(cdr, { callId: sixRows, recordPath: 'pbx.example.com/archive/2026/Dec/06', leg: 'b' })
await insertCdrRow(cdr, { callId: sixRows, recordPath: dec06, leg: 'b' })
await insertCdrRow(cdr, { callId: sixRows, recordPath: '', leg: 'b' })

// An older set-up: the dialogId is the CDR's own uuid, no Call-ID variable.
const legacy = randomUUID()
const legacyFile = await writeRecording(dec05, { dialogId: legacy, agentExtension: '1003', ani, start: midnight - 9_000_000, freq: 800 })
await cdr`insert into v_xml_cdr (xml_cdr_uuid, record_path, start_stamp) values (${legacy}, ${dec05}, now())`

const app = await gateway()

async function get(legId: string, method: 'GET' | 'HEAD' = 'GET') {
  return app.inject({ method, url: `/recordings/${encodeURIComponent(legId)}` })
}

t.test('calls of 1, 3 and 6 CDR rows, keyed by Call-ID: each leg serves its own file', async (t) => {
  const cases = [
    [`${oneRow}:1001:${ani}:${midnight - 7_200_000 + 800}`, oneRowFile, 'one row'],
    [`${threeRows}:1001:${ani}:${midnight - 5_000_000}`, threeRowsFiles[0]!, 'three rows, the b-leg'],
    [`${threeRows}:1002:${ani}:${midnight - 4_940_000 + 300}`, threeRowsFiles[1]!, 'three rows, the transfer'],
    [`${sixRows}:1001:${ani}:${midnight - 29_000}`, sixRowsFiles.first1001, 'six rows: 1001 before midnight (Dec/05)'],
    [`${sixRows}:1002:${ani}:${midnight + 21_000}`, sixRowsFiles.only1002, 'six rows: 1002 after midnight (Dec/06)'],
    [`${sixRows}:1001:${ani}:${midnight + 59_000}`, sixRowsFiles.back1001, 'six rows: 1001 again, closest start over both days'],
    [`${sixRows}:1001:${ani}:${midnight + 20_000}`, sixRowsFiles.back1001, '20 s after midnight is closer to the Dec/06 file'],
    [`${sixRows}:1001:${ani}:${midnight - 1}`, sixRowsFiles.first1001, 'just before midnight is closer to the Dec/05 file'],
    [`${legacy}:1003:${ani}:${midnight - 9_000_000}`, legacyFile, 'a UUID dialogId still finds xml_cdr_uuid']
  ] as const
  for (const [legId, file, why] of cases) {
    const res = await get(legId)
    t.equal(res.statusCode, 200, why)
    if (res.statusCode !== 200) t.comment(res.body)
    t.equal(res.headers['content-type'], 'audio/wav', why)
    t.ok(res.rawPayload.equals(file.bytes), `${why}: the body is that file`)
  }
  const res = await get(`${sixRows}:1002:${ani}:${midnight}`)
  const out = join(outside, 'served-1002.wav')
  await writeFile(out, res.rawPayload)
  t.same(await soxSamples(out), await soxSamples(sixRowsFiles.only1002.path), 'sox reads the samples of the Dec/06 file')
})

t.test('the dialogId is compared in full: no other call of the day, no prefix of ours', async (t) => {
  const prefix = 'a84b4c76e66710'
  for (const legId of [`${prefix}:1001:${ani}:${midnight}`, `${prefix}@pc33:1001:${ani}:${midnight}`, `${oneRow}:1002:${ani}:${midnight}`]) {
    const res = await get(legId)
    t.equal(res.statusCode, 404, legId)
    t.match(res.json(), { statusCode: 404, code: 'GW_ERR_LEG_NOT_FOUND' })
  }
  const upper = await get(`${oneRow.toUpperCase()}:1001:${ani}:${midnight}`)
  t.equal(upper.statusCode, 404, 'the database compares Call-IDs exactly, as SIP does')
})

t.test('a dialogId that is not a UUID never reaches a ::uuid cast', async (t) => {
  const dataDir = (await cdr`select current_setting('data_directory') as dir`)[0]!.dir as string
  const serverLog = join(dirname(dataDir), 'server.log')
  const errorsBefore = (await readFile(serverLog, 'utf8')).match(/invalid input syntax for type uuid/g)?.length ?? 0
  const weird = ['no-such-call@nowhere.example', 'x!y%z*_+`~(a)<b>[c]?{d}-e.f@host', '12345', '{f81d4fae-7dec-11d0-a765-00a0c91e6bf6}', 'F81D4FAE7DEC11D0A76500A0C91E6BF6']
  for (const dialogId of weird) {
    const res = await get(`${dialogId}:1001:${ani}:${midnight}`)
    t.equal(res.statusCode, 404, dialogId)
    t.match(res.json(), { statusCode: 404, error: 'Not Found', code: 'GW_ERR_LEG_NOT_FOUND' }, dialogId)
  }
  t.equal(logLines.filter((l) => Number(l.level) >= 50).length, 0, 'nothing logged at error')
  const errorsAfter = (await readFile(serverLog, 'utf8')).match(/invalid input syntax for type uuid/g)?.length ?? 0
  t.equal(errorsAfter, errorsBefore, 'the database logged no uuid cast error')
  // The check above can fail: the same cast asked for by hand is logged.
  await t.rejects(cdr`select ${'no-such-call@nowhere.example'}::uuid`)
  const control = (await readFile(serverLog, 'utf8')).match(/invalid input syntax for type uuid/g)?.length ?? 0
  t.equal(control, errorsBefore + 1, 'a real cast error does reach the server log')
})

t.test('each row is confined on its own: a refused record_path does not hide the call’s other files', async (t) => {
  const callId = `${randomUUID()}@mixed.example.com`
  const inRoot = await writeRecording(dec05, { dialogId: callId, agentExtension: '1001', ani, start: midnight - 100_000 })
  const outsideFile = await writeRecording(outside, { dialogId: callId, agentExtension: '1002', ani, start: midnight - 50_000 })
  await insertCdrRow(cdr, { callId, recordPath: outside })
  await insertCdrRow(cdr, { callId, recordPath: `${root}/../${outside.split('/').pop()}` })
  await insertCdrRow(cdr, { callId, recordPath: dec05 })
  const served = await get(`${callId}:1001:${ani}:${midnight - 100_000}`)
  t.equal(served.statusCode, 200)
  t.ok(served.rawPayload.equals(inRoot.bytes))
  const refused = await get(`${callId}:1002:${ani}:${midnight - 50_000}`)
  t.equal(refused.statusCode, 404, 'the file outside the root is not served')
  t.notOk(refused.rawPayload.includes(outsideFile.bytes.subarray(44, 200)))
  const warnings = logLines.filter((l) => l.level === 40 && JSON.stringify(l.refused ?? {}).includes(outside))
  t.ok(warnings.length >= 2, 'both outside paths are logged at warn')
})

t.test('MP3 recordings are legs too, served as MP3 whatever their name says', async (t) => {
  const callId = `${randomUUID()}@mp3.example.com`
  const start = midnight - 200_000
  const mp3 = await makeMp3(outside, 'leg-1001', { seconds: 2, freq: 500, lame: ['-b', '16'] })
  const mp3Path = join(dec05, recordingFileName({ dialogId: callId, agentExtension: '1001', ani, start }).replace(/\.wav$/, '.mp3'))
  await writeFile(mp3Path, mp3.bytes)
  // The same leg in both formats (a script converting after the call): the WAV is served.
  const both = await writeRecording(dec05, { dialogId: callId, agentExtension: '1002', ani, start: start + 50_000 })
  await writeFile(both.path.replace(/\.wav$/, '.mp3'), mp3.bytes)
  // MP3 bytes under a .wav name.
  await writeFile(join(dec05, recordingFileName({ dialogId: callId, agentExtension: '1003', ani, start: start + 100_000 })), mp3.bytes)
  await insertCdrRow(cdr, { callId, recordPath: dec05 })
  const fileFrames = await ffprobePackets(mp3.path)
  t.ok(fileFrames.length > 10)

  for (const [agent, at, why] of [['1001', start, '.mp3'], ['1003', start + 100_000, 'MP3 bytes named .wav']] as const) {
    const legId = `${callId}:${agent}:${ani}:${at}`
    const res = await get(legId)
    t.equal(res.statusCode, 200, why)
    t.equal(res.headers['content-type'], 'audio/mpeg', `${why}: served as MP3, never behind a WAV header`)
    t.equal(res.headers['content-length'], String(res.rawPayload.length))
    t.not(res.rawPayload.subarray(0, 4).toString('latin1'), 'RIFF')
    const served = join(outside, `served-${agent}.mp3`)
    await writeFile(served, res.rawPayload)
    const frames = await ffprobePackets(served)
    t.equal(frames.length, fileFrames.length, `${why}: every frame of the file`)
    t.ok(frames.every((f, i) => f.data.equals(fileFrames[i]!.data)), `${why}: byte-identical frames`)
    const head = await get(legId, 'HEAD')
    t.equal(head.statusCode, 200)
    t.equal(head.headers['content-type'], 'audio/mpeg')
    t.equal(head.headers['content-length'], res.headers['content-length'])
  }
  const preferred = await get(`${callId}:1002:${ani}:${start + 50_000}`)
  t.equal(preferred.statusCode, 200)
  t.equal(preferred.headers['content-type'], 'audio/wav')
  t.ok(preferred.rawPayload.equals(both.bytes), 'the WAV of a leg stored in both formats')
})

t.test('a file still being written is served as far as it is written, never promising more', async (t) => {
  const live = await gateway({ LEG_CACHE_TTL_MS: '0' })
  const callId = `${randomUUID()}@growing.example.com`
  const start = midnight - 60_000
  const whole = await writeRecording(outside, { dialogId: callId, agentExtension: '1001', ani, start, seconds: 3, freq: 440 })
  const data = dataOf(whole.bytes)
  const path = join(dec05, recordingFileName({ dialogId: callId, agentExtension: '1001', ani, start }))
  await insertCdrRow(cdr, { callId, recordPath: dec05 })
  const url = `/recordings/${encodeURIComponent(`${callId}:1001:${ani}:${start}`)}`
  const header = whole.bytes.subarray(0, whole.bytes.length - data.length)

  /** What a served body says about itself, and the samples sox reads from it. */
  async function served(res: Awaited<ReturnType<typeof live.inject>>, why: string): Promise<number> {
    t.equal(res.statusCode, 200, why)
    const body = res.rawPayload
    t.equal(Number(res.headers['content-length']), body.length, `${why}: Content-Length is what is sent`)
    t.equal(body.readUInt32LE(4), body.length - 8, `${why}: the RIFF size is what follows it`)
    const dataChunk = findChunk(body, 'data')
    t.equal(dataChunk.size, body.length - dataChunk.offset - 8, `${why}: the data size is what follows it`)
    t.ok(dataOf(body).equals(data.subarray(0, dataChunk.size)), `${why}: the samples written so far`)
    return dataChunk.size
  }

  for (const placeholder of [0xffffffff, 0]) {
    // The recorder's header before it knows the length, and the first 10,001 bytes (half a sample more).
    await writeFile(path, Buffer.concat([setRiffSize(setDataSize(header, placeholder), placeholder), data.subarray(0, 10_001)]))
    t.equal(await served(await live.inject({ method: 'GET', url }), `placeholder ${placeholder}`), 10_000, 'whole samples only')
    await appendFile(path, data.subarray(10_001, 20_000))
    t.equal(await served(await live.inject({ method: 'GET', url }), `placeholder ${placeholder}, grown`), 20_000)
  }
  const out = join(outside, 'growing-served.wav')
  await writeFile(out, (await live.inject({ method: 'GET', url })).rawPayload)
  t.same(await soxSamples(out), (await soxSamples(whole.path)).subarray(0, 10_000), 'sox reads the 10,000 samples written so far')

  // Growing while it is asked for: between the header's read and the audio's, the file gets longer.
  let written = 20_000
  const appender = setInterval(() => {
    if (written >= data.length) return
    const next = Math.min(data.length, written + 1_601)
    appendFileSync(path, data.subarray(written, next))
    written = next
  }, 5)
  try {
    const sizes: number[] = []
    for (let i = 0; i < 12; i++) {
      sizes.push(await served(await live.inject({ method: 'GET', url }), `request ${i} while growing`))
      const tail = await live.inject({ method: 'GET', url, headers: { range: 'bytes=-100' } })
      t.equal(tail.statusCode, 206)
      t.equal(tail.rawPayload.length, 100)
      t.match(tail.headers['content-range'], /^bytes \d+-\d+\/\d+$/)
    }
    t.ok(sizes.every((size, i) => i === 0 || size >= sizes[i - 1]!), 'never shorter than before')
  } finally {
    clearInterval(appender)
  }
  // Finished: the recorder writes the real sizes; the whole file is served as it is.
  await writeFile(path, whole.bytes)
  const done = await live.inject({ method: 'GET', url })
  t.equal(done.statusCode, 200)
  t.ok(done.rawPayload.equals(whole.bytes))
})

t.test('the index the README shows is the one the default query uses', async (t) => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const ddl = /```sql\n\s*(create index[^`]*?sip_h_X-CALL-ID[^`]*?);\n\s*```/.exec(readme)?.[1]
  if (ddl === undefined) return t.fail('README shows no create index for sip_h_X-CALL-ID')
  await cdr.unsafe(ddl)
  const plans = await cdr.begin(async (tx) => {
    // A table of a few rows is read whole whatever the indexes; without that option the plan shows what
    // the index can serve.
    await tx`set local enable_seqscan = off`
    const plan = async (dialogId: string): Promise<string> => {
      const rows = await tx.unsafe(`explain ${DEFAULT_EFSWITCH_PATH_QUERY}`, [dialogId, uuidOrNull(dialogId)])
      return rows.map((r) => String(Object.values(r)[0])).join('\n')
    }
    return [await plan(oneRow), await plan(legacy)]
  })
  const indexName = /create index (?:concurrently )?(?:if not exists )?(\S+)/.exec(ddl)?.[1] ?? '?'
  t.match(plans[0], new RegExp(`Index Scan (using|on) ${indexName}`), 'a Call-ID is found through the expression index')
  t.match(plans[1], new RegExp(`Index Scan (using|on) ${indexName}`), 'a UUID too')
  t.match(plans[1], /Index Scan (using|on) v_xml_cdr_pkey/, 'and through the primary key')
  t.notMatch(plans.join('\n'), /Seq Scan/)
})
