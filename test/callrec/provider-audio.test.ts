import { DEFAULT_CALLREC_LEGS_QUERY } from '../../src/config.js'
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buffer } from 'node:stream/consumers'
import { CallrecProvider, type CallrecProviderOptions } from '../../src/providers/eleveo/callrec/provider.js'
import { startCallrecSimulator, type CallrecRequest, type CallrecSimulator, type CallrecSimulatorOptions, type ExpiryForm } from '../../simulators/callrec.js'
import { toneMp3 } from '../../simulators/mp3-tone.js'
import type { Teardownable } from '../helpers/sox.js'
import { eventually } from '../helpers/eventually.js'

const USER = 'gateway'
const PASSWORD = 'callrec-pw-93c1e0'
const MP3 = toneMp3({ seconds: 3, freq: 440 })
/** Large enough that a whole-file answer cannot sit in socket buffers: proves it is not downloaded. */
const BIG = randomBytes(16 * 1024 * 1024)

async function sim(t: Teardownable, opts: CallrecSimulatorOptions = {}): Promise<CallrecSimulator> {
  const s = await startCallrecSimulator({ username: USER, password: PASSWORD, audio: { 'sid-mp3': MP3, 'sid-big': BIG }, ...opts })
  t.teardown(() => s.close())
  return s
}

function provider(t: Teardownable, s: CallrecSimulator, overrides: Partial<CallrecProviderOptions> = {}): CallrecProvider {
  const p = new CallrecProvider({
    baseUrl: s.url,
    username: USER,
    password: PASSWORD,
    timeoutMs: 5000,
    // Audio never touches the database (postgres.js connects lazily): nothing listens there.
    databaseUrl: 'postgres://nobody@127.0.0.1:9/none',
    legsQuery: DEFAULT_CALLREC_LEGS_QUERY,
    dialogKey: 'JTAPI_CISCO_ID',
    timeZone: 'UTC',
    holdMaxGapS: 900,
    ...overrides
  })
  t.teardown(() => p.close())
  return p
}

const seg = (id: string) => ({ id })

/** Whether the simulator sees the connection close (the server hears it after us). */
function closedEventually(request: () => CallrecRequest | undefined): Promise<boolean> {
  return eventually(() => request()?.aborted === true)
}
const servlet = (s: CallrecSimulator, name: string) => s.requests.filter((r) => r.servlet === name)

/** Ranges worth checking in a file of `size` bytes. */
function rangesOf(size: number): [number, number][] {
  return [[0, size - 1], [0, 0], [size - 1, size - 1], [1, 417], [size - 1000, size - 1], [4096, 65_535 < size ? 65_535 : size - 1]]
}

for (const honourRange of [true, false]) {
  t.test(`exact bytes with CallREC ${honourRange ? 'honouring' : 'ignoring'} Range`, async (t) => {
    const s = await sim(t, { honourRange })
    const p = provider(t, s)

    const info = await p.statSegment(seg('sid-mp3'), 4096)
    t.equal(info.size, MP3.length)
    t.ok(info.head.equals(MP3.subarray(0, 4096)), 'the head is the first bytes')
    const whole = await p.statSegment(seg('sid-mp3'), MP3.length + 100)
    t.ok(whole.head.equals(MP3), 'a head longer than the file is the file')

    for (const [start, end] of rangesOf(MP3.length)) {
      const got = await buffer(await p.openSegment(seg('sid-mp3'), { start, end }))
      t.ok(got.equals(MP3.subarray(start, end + 1)), `bytes ${start}-${end}`)
    }
    const audio = servlet(s, 'sendcallfile.mp3')
    t.ok(audio.every((r) => r.status === (honourRange ? 206 : 200)), `CallREC answered ${honourRange ? 206 : 200}`)
    t.equal(s.logins, 1, 'one login for every request')
    const tokens = audio.map((r) => r.token)
    t.equal(new Set(tokens).size, tokens.length, 'a fresh token for every audio request (the simulator allows one use each)')
    t.equal(servlet(s, 'downloadtoken').length, audio.length, 'one token request per audio request, none refused')

    // A few bytes near the start of a 16 MiB file: with Range ignored the rest must not be downloaded.
    const before = s.requests.length
    const head = await buffer(await p.openSegment(seg('sid-big'), { start: 100, end: 199 }))
    t.ok(head.equals(BIG.subarray(100, 200)))
    const big = s.requests.slice(before).find((r) => r.servlet === 'sendcallfile.mp3')
    if (honourRange) t.equal(big?.bytesSent, 100)
    else {
      t.ok(await closedEventually(() => big), 'the whole-file answer was cut once our bytes were in')
      t.ok((big?.bytesSent ?? Infinity) < BIG.length / 2, `not downloaded: ${big?.bytesSent} of ${BIG.length} bytes sent`)
    }
    const tail = await buffer(await p.openSegment(seg('sid-big'), { start: BIG.length - 10, end: BIG.length - 1 }))
    t.ok(tail.equals(BIG.subarray(BIG.length - 10)), 'the last bytes, skipped to as they flow')
  })

  t.test(`truncated audio fails the stream, never a clean short file (Range ${honourRange ? 'honoured' : 'ignored'})`, async (t) => {
    const s = await sim(t, { honourRange })
    const p = provider(t, s)
    s.setFault('truncated')
    await t.rejects(buffer(await p.openSegment(seg('sid-mp3'), { start: 0, end: MP3.length - 1 })), 'the whole file')
    await t.rejects(buffer(await p.openSegment(seg('sid-mp3'), { start: 10, end: MP3.length - 2 })), 'a range')
    await t.rejects(p.statSegment(seg('sid-mp3'), MP3.length), { statusCode: 502, message: /promised \d+ bytes, sent \d+|connection was cut/ }, 'a head that is the whole file')
  })
}

for (const form of ['error', '401', '302'] as ExpiryForm[]) {
  t.test(`session expiry answered as ${form}: one re-login, the request succeeds`, async (t) => {
    const s = await sim(t, { expiryForm: form })
    const p = provider(t, s)
    t.ok((await p.statSegment(seg('sid-mp3'), 100)).head.equals(MP3.subarray(0, 100)))
    t.equal(s.logins, 1)

    s.expireSessions()
    const got = await buffer(await p.openSegment(seg('sid-mp3'), { start: 5, end: 1004 }))
    t.ok(got.equals(MP3.subarray(5, 1005)), 'expired at the token request')
    t.equal(s.logins, 2, 'logged in again once')
    const oldSession = servlet(s, 'downloadtoken')[0]?.session
    t.same(
      servlet(s, 'downloadtoken').map((r) => (r.session === oldSession ? 'old' : 'new')),
      ['old', 'old', 'new'],
      'the refused token request used the expired session, the repeat the new one'
    )

    s.expireSessionsAfterNextToken()
    const again = await buffer(await p.openSegment(seg('sid-mp3'), { start: 0, end: 99 }))
    t.ok(again.equals(MP3.subarray(0, 100)), 'expired between token and audio')
    t.equal(s.logins, 3)
    const last = servlet(s, 'sendcallfile.mp3').slice(-2)
    t.same(last.map((r) => r.status), [form === 'error' ? 200 : Number(form), 206], 'the audio request under the old session was refused, then repeated')
    t.notOk(servlet(s, 'downloadtoken').some((r) => r.status === 200 && r.session === undefined))
  })
}

t.test('concurrent callers share one login, at start and after an expiry', async (t) => {
  const s = await sim(t, { loginDelayMs: 150 })
  const p = provider(t, s)
  const read = () => p.openSegment(seg('sid-mp3'), { start: 0, end: 999 }).then(buffer)
  const first = await Promise.all(Array.from({ length: 10 }, read))
  t.ok(first.every((b) => b.equals(MP3.subarray(0, 1000))))
  t.equal(s.logins, 1, 'ten requests, one login')
  s.expireSessions()
  const second = await Promise.all(Array.from({ length: 10 }, read))
  t.ok(second.every((b) => b.equals(MP3.subarray(0, 1000))))
  t.equal(s.logins, 2, 'ten requests meeting an expired session, one re-login')
  t.equal(servlet(s, 'loginservlet').length, 2)
})

t.test('a refusal that outlives a fresh session is a 502 after exactly one re-login', async (t) => {
  const s = await sim(t)
  const p = provider(t, s)
  await p.statSegment(seg('sid-mp3'), 10)
  t.equal(s.logins, 1)
  const tokensBefore = servlet(s, 'downloadtoken').length
  s.setFault('token-error')
  await t.rejects(p.statSegment(seg('sid-mp3'), 100), {
    statusCode: 502,
    message: /audio of couple sid-mp3: CallREC refused it again after a fresh login \(error -5: Cannot create a download token\)/
  })
  t.equal(s.logins, 2, 'one re-login, no loop')
  t.equal(servlet(s, 'downloadtoken').length - tokensBefore, 2, 'asked under the old session and once under the new')
  s.setFault(null)
  await t.rejects(p.statSegment(seg('no-such-sid'), 100), { statusCode: 502, message: /No such couple: no-such-sid/ })
})

t.test('a bad login is a 502 naming the settings, never the password', async (t) => {
  const s = await sim(t)
  const p = provider(t, s, { password: 'wrong-password-1234' })
  const err = (await p.statSegment(seg('sid-mp3'), 100).catch((e: unknown) => e)) as Error & { statusCode: number }
  t.equal(err.statusCode, 502)
  t.match(err.message, /CallREC refused the login of "gateway" \(error -1: Login failed for user gateway\); check ELEVEO_USERNAME \/ ELEVEO_PASSWORD/)
  t.notMatch(err.message, /wrong-password/)
  t.equal(servlet(s, 'downloadtoken').length, 0, 'no token asked for without a session')
  s.setFault('bad-login')
  await t.rejects(provider(t, s).statSegment(seg('sid-mp3'), 100), { statusCode: 502, message: /refused the login/ }, 'right credentials, CallREC refusing anyway')
})

t.test('an aborted request stops the upstream transfer', async (t) => {
  const s = await sim(t, { honourRange: false })
  const p = provider(t, s)
  const ac = new AbortController()
  const stream = await p.openSegment(seg('sid-big'), { start: 0, end: BIG.length - 1 }, ac.signal)
  await new Promise<void>((resolve) => stream.once('data', () => resolve()))
  ac.abort(new Error('client went away'))
  stream.resume()
  t.ok(await closedEventually(() => servlet(s, 'sendcallfile.mp3').at(-1)), 'the answer was cut')
})
