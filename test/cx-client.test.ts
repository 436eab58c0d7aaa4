import t, { type Test } from 'tap'
import { Agent } from 'undici'
import { CxClient } from '../src/cx/client.js'
import { CxAuthError } from '../src/errors.js'
import { buildLinkMessage } from '../src/cx/message.js'
import { KeycloakTokenSource, staticToken } from '../src/cx/token.js'
import { uuidV5 } from '../src/cx/uuid.js'
import { recordingLink } from '../src/jobs/link.js'
import { startCxSimulator, validateMessage, type CxSimulator } from '../simulators/cx.js'

const SECRET = 'client-secret-for-the-test'
const PASSWORD = 'password-for-the-test'

function message(legId: string, extra: { channelSessionId?: string | null; conversationId?: string | null } = {}) {
  return buildLinkMessage({
    legId,
    ani: '+41441234567',
    channelSessionId: extra.channelSessionId === undefined ? 'cs-1' : extra.channelSessionId,
    conversationId: extra.conversationId === undefined ? 'conv-1' : extra.conversationId,
    mediaUrl: recordingLink({ publicBaseUrl: 'https://gw.example.com', linkSigning: { key: null, oldKeys: [] } }, legId),
    senderId: 'sender',
    activityType: 'VOICE_RECORDING',
    now: 1764000000000
  })
}

async function setup(t: Test, opts: { expiresInS?: number; timeoutMs?: number; password?: string } = {}) {
  const sim = await startCxSimulator({ clientSecret: SECRET, password: PASSWORD, expiresInS: opts.expiresInS ?? 300, maxPageSize: 3 })
  t.teardown(() => sim.close())
  const agent = new Agent()
  t.teardown(() => agent.close())
  const timeoutMs = opts.timeoutMs ?? 2000
  const tokens = new KeycloakTokenSource({
    tokenUrl: sim.tokenUrl,
    clientId: 'cim',
    clientSecret: SECRET,
    username: 'gateway',
    password: opts.password ?? PASSWORD,
    timeoutMs,
    dispatcher: agent
  })
  const client = new CxClient({ baseUrl: sim.url, tokens, timeoutMs, dispatcher: agent, pageSize: 2 })
  return { sim, client }
}

t.test('UUID v5 matches the RFC test vector and is stable per legId', async (t) => {
  t.equal(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '2ed6657d-e927-568b-95e1-2665a8aea6a2')
  t.equal(uuidV5('D1:1001:+41:1'), uuidV5('D1:1001:+41:1'))
  t.not(uuidV5('D1:1001:+41:1'), uuidV5('D1:1001:+41:2'))
  t.match(uuidV5('x'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
})

t.test('the link message has the shape CX validates, with an encoded legId in mediaUrl', async (t) => {
  const m = message('D 1:1001:+41:1764000000000')
  t.equal(validateMessage(m), null)
  t.equal(m.body.mediaUrl, 'https://gw.example.com/recordings/D%201%3A1001%3A%2B41%3A1764000000000')
  t.equal(validateMessage({ ...m, header: { ...m.header, channelSessionId: null, conversationId: null } }), 'header.channelSessionId or header.conversationId is required')
  t.equal(validateMessage(message('a:b:c:1', { channelSessionId: null })), null, 'conversationId alone is enough')
})

t.test('one token serves many requests; an expired one is fetched again once', async (t) => {
  const { sim, client } = await setup(t)
  for (let i = 0; i < 5; i++) t.same(await client.postActivity(message(`D:1:2:${i}`)), { kind: 'accepted' })
  t.equal(sim.tokensIssued, 1)
  sim.expireTokens()
  t.same(await client.postActivity(message('D:1:2:9')), { kind: 'accepted' })
  t.equal(sim.tokensIssued, 2)
  t.equal(sim.requests.filter((r) => r.status === 401).length, 1)
})

t.test('a token is renewed shortly before it expires, without a 401', async (t) => {
  const { sim, client } = await setup(t, { expiresInS: 1 })
  await client.postActivity(message('D:1:2:1'))
  // Lifetime 1 s, renewed a fifth of it early.
  await new Promise((r) => setTimeout(r, 850))
  await client.postActivity(message('D:1:2:2'))
  t.equal(sim.tokensIssued, 2)
  t.equal(sim.requests.filter((r) => r.status === 401).length, 0)
})

t.test('concurrent callers share one token request', async (t) => {
  const { sim, client } = await setup(t)
  await Promise.all(Array.from({ length: 8 }, (_, i) => client.postActivity(message(`D:1:2:${i}`))))
  t.equal(sim.tokensIssued, 1)
})

t.test('answers are classified: 4xx rejected with the reason, 5xx / 429 / timeout retried', async (t) => {
  const { sim, client } = await setup(t, { timeoutMs: 300 })
  sim.failNext(1, 500)
  t.match(await client.postActivity(message('D:1:2:1')), { kind: 'retry', reason: /CX answered 500/ })
  sim.failNext(1, 429)
  t.match(await client.postActivity(message('D:1:2:1')), { kind: 'retry', reason: /429/ })
  sim.failNext(1, 422)
  t.match(await client.postActivity(message('D:1:2:1')), { kind: 'rejected', status: 422, reason: /CX answered 422: .*simulated failure/ })
  sim.rejectWhen((m) => m.legId === 'D:1:2:7')
  t.match(await client.postActivity(message('D:1:2:7')), { kind: 'rejected', status: 400, reason: /unknown conversation/ })
  sim.stallNext(1, 3000)
  t.match(await client.postActivity(message('D:1:2:8')), { kind: 'retry', reason: /did not answer within 300 ms/ })
  t.same(await client.postActivity(message('D:1:2:8')), { kind: 'accepted' })
})

t.test('CX unreachable: retry, not a crash', async (t) => {
  const agent = new Agent()
  t.teardown(() => agent.close())
  const client = new CxClient({ baseUrl: 'http://127.0.0.1:9/cm', tokens: staticToken('x'), timeoutMs: 500, dispatcher: agent })
  t.match(await client.postActivity(message('D:1:2:1')), { kind: 'retry', reason: /unavailable/ })
})

t.test('bad credentials: CxAuthError without the secrets in it', async (t) => {
  const { client } = await setup(t, { password: 'not-the-password' })
  const err = await client.postActivity(message('D:1:2:1')).catch((e: unknown) => e)
  t.type(err, CxAuthError)
  t.match((err as Error).message, /token endpoint answered 401: invalid_grant/)
  t.notMatch((err as Error).message, /not-the-password|client-secret-for-the-test/)
})

t.test('a static token CX refuses is an auth failure, not a rejected message', async (t) => {
  const sim: CxSimulator = await startCxSimulator({ apiToken: 'good' })
  t.teardown(() => sim.close())
  const agent = new Agent()
  t.teardown(() => agent.close())
  const ok = new CxClient({ baseUrl: sim.url, tokens: staticToken('good'), timeoutMs: 1000, dispatcher: agent })
  t.same(await ok.postActivity(message('D:1:2:1')), { kind: 'accepted' })
  const bad = new CxClient({ baseUrl: sim.url, tokens: staticToken('bad'), timeoutMs: 1000, dispatcher: agent })
  await t.rejects(bad.postActivity(message('D:1:2:1')), CxAuthError)
  t.equal(sim.requests.filter((r) => r.status === 401).length, 1, 'a static token is not asked for again')
})

t.test('voice activities: every page of the window, whatever page size CX allows', async (t) => {
  const { sim, client } = await setup(t)
  const at = (s: number) => new Date(Date.UTC(2026, 2, 2, 10, 0, s)).toISOString()
  for (let i = 0; i < 7; i++) {
    sim.activities.push({ conversationId: null, channelSessionId: `cs${i}`, dialogId: `D${i}`, agentExtension: '1001', ani: '', legStartTime: at(i), legEndTime: null })
  }
  sim.activities.push({ conversationId: null, channelSessionId: 'late', dialogId: 'LATE', agentExtension: '1', ani: '', legStartTime: at(30), legEndTime: null })
  const got: string[] = []
  for await (const page of client.voiceActivities({ start: Date.parse(at(0)), end: Date.parse(at(30)) })) got.push(...page.map((a) => a.dialogId))
  t.same(got, ['D0', 'D1', 'D2', 'D3', 'D4', 'D5', 'D6'], 'end is exclusive')
  t.equal(sim.requests.filter((r) => r.url.includes('voice-activities')).length, 4, '2 per page asked: pages 0..3')

  sim.failNext(1, 500, 'voice-activities')
  const it = client.voiceActivities({ start: Date.parse(at(0)), end: Date.parse(at(30)) })
  await t.rejects(it.next(), { message: /voice activities page 0 answered 500/ })
})

t.test('an aborted caller gets its own reason back', async (t) => {
  const { sim, client } = await setup(t)
  sim.stallNext(1, 3000)
  const ac = new AbortController()
  const p = client.postActivity(message('D:1:2:1'), ac.signal)
  setTimeout(() => ac.abort(new Error('stop now')), 50)
  await t.rejects(p, { message: 'stop now' })
})
