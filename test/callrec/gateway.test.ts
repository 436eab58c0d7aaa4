import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { insertCouples, wallClockIn, type SimCouple } from '../../simulators/callrec-db.js'
import { startCallrecSimulator } from '../../simulators/callrec.js'
import { startCallrecDatabase } from './callrec-database.js'
import { decodeAgainstParts, ffprobePackets, makeMp3 } from '../helpers/mp3-tools.js'
import { makeTone, soxConcat, soxSamples, tempDir } from '../helpers/sox.js'
import { baseTime, cxLeg, legIdOf, PUBLIC_BASE_URL, startPushRig } from '../push-rig.js'
import { eventually } from '../helpers/eventually.js'

/*
 * The gateway with ELEVEO_API=callrec end to end: couples in a real PostgreSQL (local times of
 * Europe/Prague), the servlets simulated, links pushed through the real push job, recordings served
 * over HTTP. Couples hold WAV bytes here (the WAV path serves them); MP3 legs are the MP3 layer's.
 */

const ZONE = 'Europe/Prague'
const CALLREC_USER = 'gw-reader'
const CALLREC_PASSWORD = 'callrec-Pa55-7e1b90'
const SEC = 1000

const { pg, databaseUrl, sql } = await startCallrecDatabase(t)

const dir = await tempDir(t, 'cxgw-callrec-')
async function wav(name: string, freq: number, seconds: number): Promise<{ path: string; bytes: Buffer }> {
  const path = await makeTone(join(dir, `${name}.wav`), { seconds, freq })
  return { path, bytes: await readFile(path) }
}

function couple(sid: string, dialogId: string, agentExtension: string, start: number, stop: number): SimCouple {
  return { sid, dialogId, agentExtension, ani: '+41441234567', start: wallClockIn(start, ZONE), stop: wallClockIn(stop, ZONE) }
}

const b = baseTime()
// H: agent 1001 put the caller on hold; CallREC recorded two couples 20 s apart: one leg.
// X: 1002 → 1003 → 1002 within seconds: three legs, 1002's two stays never joined.
const activities = [
  cxLeg('H', '1001', b + 400),
  cxLeg('X', '1002', b + 2 * 60 * SEC),
  cxLeg('X', '1003', b + 3 * 60 * SEC + 300),
  cxLeg('X', '1002', b + 4 * 60 * SEC - 200)
]
const parts = { h1: await wav('h1', 300, 0.6), h2: await wav('h2', 700, 0.4), x1: await wav('x1', 500, 0.3), x2: await wav('x2', 900, 0.3), x3: await wav('x3', 1100, 0.3) }
await insertCouples(sql, [
  couple('h2', 'H', '1001', b + 40 * SEC, b + 60 * SEC),
  couple('h1', 'H', '1001', b, b + 20 * SEC),
  couple('x1', 'X', '1002', b + 2 * 60 * SEC + 100, b + 3 * 60 * SEC),
  couple('x2', 'X', '1003', b + 3 * 60 * SEC + 200, b + 4 * 60 * SEC - 500),
  couple('x3', 'X', '1002', b + 4 * 60 * SEC, b + 5 * 60 * SEC)
])

const sim = await startCallrecSimulator({
  username: CALLREC_USER,
  password: CALLREC_PASSWORD,
  audio: Object.fromEntries(Object.entries(parts).map(([sid, p]) => [sid, p.bytes]))
})
t.teardown(() => sim.close())

const rig = await startPushRig(t, {
  activities,
  env: {
    ELEVEO_API: 'callrec',
    ELEVEO_BASE_URL: sim.url,
    ELEVEO_USERNAME: CALLREC_USER,
    ELEVEO_PASSWORD: CALLREC_PASSWORD,
    ELEVEO_DATABASE_URL: databaseUrl,
    ELEVEO_TIMEZONE: ZONE,
    METRICS_TOKEN: '',
    // Every request looks its leg and layouts up again, so each fault meets a servlet before the headers.
    LEG_CACHE_TTL_MS: '0',
    LOG_LEVEL: 'debug'
  }
})

t.test('one push run links every CX leg to its CallREC leg: the hold joined, A → B → A kept apart', async (t) => {
  const report = await rig.run()
  t.match(report, { status: 'ok', calls: 2, legs: 4, matched: 4, pushed: 4, pending: 0, failed: 0 })
  t.same(rig.cx.received.map((r) => r.legId).sort(), activities.map(legIdOf).sort())
  for (const r of rig.cx.received) t.equal(r.mediaUrl, `${PUBLIC_BASE_URL}/recordings/${encodeURIComponent(r.legId)}`)
  t.match(await rig.run(), { status: 'ok', pushed: 0 }, 'nothing twice')
})

t.test("CallREC's database down: the run fails and the cursor stays; the next run pushes what it missed", async (t) => {
  // Not before the cursor the first test's runs left (each ran up to the moment it started).
  const at = Date.now()
  const late = cxLeg('L', '1005', at)
  rig.cx.activities.push(late)
  await insertCouples(sql, [couple('l1', 'L', '1005', at + 10, at + 30 * SEC)])
  await pg.stop()
  const down = await rig.run().finally(() => pg.start())
  t.match(down, { status: 'failed', pushed: 0 })
  t.match(down.error, /Upstream eleveo unavailable: database/)
  const again = await rig.run()
  t.match(again, { status: 'ok', pushed: 1 }, 'the missed call is pushed by the next run')
  t.ok(rig.cx.received.some((r) => r.legId === legIdOf(late)))
})

t.test('the held leg is served as one WAV equal to sox joining the two couples', async (t) => {
  const res = await rig.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legIdOf(activities[0]!))}` })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'audio/wav')
  t.equal(Number(res.headers['content-length']), res.rawPayload.length)
  const out = join(dir, 'served-h.wav')
  await writeFile(out, res.rawPayload)
  const ref = await soxConcat([parts.h1.path, parts.h2.path], join(dir, 'ref-h.wav'))
  const [ours, theirs] = await Promise.all([soxSamples(out), soxSamples(ref)])
  t.ok(ours.length > 0)
  t.same(Buffer.from(ours.buffer), Buffer.from(theirs.buffer), 'same samples as sox, h1 then h2')

  const slice = await rig.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legIdOf(activities[0]!))}`, headers: { range: 'bytes=100-5099' } })
  t.equal(slice.statusCode, 206)
  t.ok(slice.rawPayload.equals(res.rawPayload.subarray(100, 5100)), 'a Range slice equals the same slice of the whole')

  // 1002's second stay is its own recording, the x3 couple alone.
  const back = await rig.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legIdOf(activities[3]!))}` })
  t.equal(back.statusCode, 200)
  const x3 = join(dir, 'served-x3.wav')
  await writeFile(x3, back.rawPayload)
  t.same(Buffer.from((await soxSamples(x3)).buffer), Buffer.from((await soxSamples(parts.x3.path)).buffer))
  t.equal(sim.logins, 1, 'one CallREC session for the whole test so far')
})

t.test('MP3 couples: a held leg is one MP3 (frames of both couples in order, decodable), Range honoured or not', async (t) => {
  // Encoded by lame (independent of the JavaScript encoder the demo uses): one tagged, one plain.
  const m1 = await makeMp3(dir, 'm1', { seconds: 2.5, freq: 350, lame: ['-b', '24', '--add-id3v2', '--tt', 'before hold'] })
  const m2 = await makeMp3(dir, 'm2', { seconds: 1.5, freq: 750, lame: ['-b', '16'] })
  const m3 = await makeMp3(dir, 'm3', { seconds: 1, freq: 1000, lame: ['-b', '16'] })
  sim.audio.set('m1', m1.bytes).set('m2', m2.bytes).set('m3', m3.bytes)
  const start = b + 8 * 60 * SEC
  await insertCouples(sql, [
    couple('m1', 'M', '1006', start, start + 10 * SEC),
    couple('m2', 'M', '1006', start + 30 * SEC, start + 40 * SEC),
    couple('m3', 'M', '1007', start + 50 * SEC, start + 60 * SEC)
  ])
  const held = `/recordings/${encodeURIComponent(legIdOf(cxLeg('M', '1006', start + 200)))}`
  const single = `/recordings/${encodeURIComponent(legIdOf(cxLeg('M', '1007', start + 50 * SEC + 200)))}`
  const partPackets = await Promise.all([m1.path, m2.path].map((p) => ffprobePackets(p)))

  for (const honourRange of [true, false]) {
    sim.setHonourRange(honourRange)
    const res = await rig.app.inject({ method: 'GET', url: held })
    t.equal(res.statusCode, 200, res.statusCode === 200 ? '' : res.body)
    t.equal(res.headers['content-type'], 'audio/mpeg')
    t.equal(Number(res.headers['content-length']), res.rawPayload.length, 'exact Content-Length')
    const served = join(dir, `served-m-${honourRange}.mp3`)
    await writeFile(served, res.rawPayload)
    const packets = await ffprobePackets(served)
    const expected = partPackets.flat()
    t.equal(packets.length, expected.length, `Range ${honourRange ? 'honoured' : 'ignored'}: every frame of both couples, nothing else`)
    t.ok(packets.every((p, i) => p.data.equals(expected[i]!.data)), 'byte-identical frames, in order')
    for (const r of await decodeAgainstParts(served, partPackets, join(dir, `m-${honourRange}`), 1)) {
      t.equal(r.stderr, '', `${r.decoder}: no complaint`)
      t.equal(r.outside, 0, `${r.decoder}: the couples' samples, frame for frame`)
    }
    const slice = await rig.app.inject({ method: 'GET', url: held, headers: { range: 'bytes=1000-2999' } })
    t.equal(slice.statusCode, 206)
    t.ok(slice.rawPayload.equals(res.rawPayload.subarray(1000, 3000)), 'a Range slice equals the same slice of the whole')

    const one = await rig.app.inject({ method: 'GET', url: single })
    t.equal(one.statusCode, 200)
    t.equal(one.headers['content-type'], 'audio/mpeg')
    const oneFile = join(dir, `served-m3-${honourRange}.mp3`)
    await writeFile(oneFile, one.rawPayload)
    const m3Frames = await ffprobePackets(m3.path)
    const oneFrames = await ffprobePackets(oneFile)
    t.ok(oneFrames.length === m3Frames.length && oneFrames.every((p, i) => p.data.equals(m3Frames[i]!.data)), 'a one-couple leg: its frames')
  }
  sim.setHonourRange(true)
})

t.test('readiness: the database answers and CallREC accepts the login', async (t) => {
  // Checks run in the background once the app listens.
  await rig.app.listen({ host: '127.0.0.1', port: 0 })
  let res = await rig.app.inject({ method: 'GET', url: '/health/ready' })
  await eventually(async () => {
    res = await rig.app.inject({ method: 'GET', url: '/health/ready' })
    return res.json<{ status: string }>().status !== 'starting'
  })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { checks: { vendor: { status: 'ok' } } })
})

t.test('secrets: no password, session id or token in any log line, error or metric', async (t) => {
  const legH = `/recordings/${encodeURIComponent(legIdOf(activities[0]!))}`
  const answers: string[] = []
  const get = async (): Promise<number | 'cut'> => {
    // A failure after the headers (truncated audio) cuts the response: that is the right answer too.
    const res = await rig.app.inject({ method: 'GET', url: legH }).catch(() => null)
    if (res === null) return 'cut'
    answers.push(res.body.slice(0, 2000), JSON.stringify(res.headers))
    return res.statusCode
  }
  // Expiry in every form (re-login), then faults that end in errors.
  for (const form of ['error', '401', '302'] as const) {
    sim.setExpiryForm(form)
    sim.expireSessions()
    t.equal(await get(), 200, `expiry as ${form}`)
  }
  sim.setFault('token-error')
  t.equal(await get(), 502)
  sim.setFault('truncated')
  t.not(await get(), 200, 'truncated audio is never a complete answer')
  sim.setFault('bad-login')
  sim.expireSessions()
  t.equal(await get(), 502)
  sim.setFault(null)
  const metrics = await rig.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)

  const logs = rig.logs.join('\n')
  t.match(logs, /refused it again after a fresh login/, 'the faults were logged (the capture works)')
  t.match(logs, /refused the login of/)
  const sessions = new Set(sim.requests.flatMap((r) => (r.session === undefined ? [] : [r.session])))
  const tokens = new Set(sim.requests.flatMap((r) => (r.token === undefined ? [] : [r.token])))
  t.ok(sessions.size >= 4 && tokens.size >= 4, `${sessions.size} sessions and ${tokens.size} tokens were used`)
  const places = { logs, answers: answers.join('\n'), metrics: metrics.body }
  for (const [where, text] of Object.entries(places)) {
    t.notOk(text.includes(CALLREC_PASSWORD), `no password in ${where}`)
    t.notOk(text.includes(encodeURIComponent(CALLREC_PASSWORD)), `no encoded password in ${where}`)
    t.notOk([...sessions].some((s) => text.includes(s)), `no session id in ${where}`)
    t.notOk([...tokens].some((s) => text.includes(s)), `no token in ${where}`)
    t.notMatch(text, /jsessionid|loginservlet|sendcallfile/i, `no servlet URL in ${where}`)
  }
})
