import t from 'tap'
import { createCxClient } from '../src/cx/client.js'
import { CxAuthError } from '../src/errors.js'
import { buildLinkMessage } from '../src/cx/message.js'
import { loadConfig } from '../src/config.js'
import { endlessBody, startHostileServer, tricklingBody, type HostileServer } from './helpers/hostile-server.js'

/*
 * A CX (or its Keycloak) that answers with a body that never ends, or one that trickles a byte at a
 * time: the client must give up at its cap or its deadline with an error saying which, and never
 * hold more than the cap in memory nor wait forever.
 */

function clientFor(server: HostileServer, env: Record<string, string> = {}) {
  const config = loadConfig({
    ELEVEO_BASE_URL: 'http://127.0.0.1:9',
    CX_BASE_URL: `${server.url}/cm`,
    CX_API_TOKEN: 'static-token',
    CX_TIMEOUT_MS: '800',
    PUBLIC_BASE_URL: 'https://gw.example.com',
    ...env
  })
  if (config.cx === null) throw new Error('pushing is not enabled')
  return createCxClient(config.cx)
}

const window = { start: Date.parse('2026-12-01T10:00:00Z'), end: Date.parse('2026-12-01T11:00:00Z') }
const message = buildLinkMessage({
  legId: 'D1:1001:+41:1764000000000',
  ani: '+41',
  channelSessionId: 'cs',
  conversationId: null,
  mediaUrl: 'https://gw.example.com/recordings/x',
  senderId: 's',
  activityType: 'VOICE_RECORDING',
  now: 1764000000000
})

t.test('a voice-activities page that never ends is cut at the cap and fails the window', async (t) => {
  const server = await startHostileServer(t, endlessBody())
  const client = clientFor(server, { CX_TIMEOUT_MS: '20000' })
  t.teardown(() => client.close())
  const err = await client.voiceActivities(window).next().catch((e: unknown) => e)
  t.match(err, { code: 'GW_ERR_UPSTREAM', message: /voice-activities answered more than \d+ bytes/ })
  await new Promise((r) => setTimeout(r, 100))
  t.equal(server.cutOff, 1, 'the answer was dropped, not read on')
  t.ok(server.sent < 64 * 1024 * 1024, `${server.sent} bytes sent before the client gave up`)
})

t.test('a Keycloak answer that never ends is an authentication failure, cut at the cap', async (t) => {
  const server = await startHostileServer(t, endlessBody())
  const client = clientFor(server, {
    CX_API_TOKEN: '',
    CX_TOKEN_URL: `${server.url}/token`,
    CX_CLIENT_ID: 'cim',
    CX_USERNAME: 'u',
    CX_PASSWORD: 'p',
    CX_TIMEOUT_MS: '20000'
  })
  t.teardown(() => client.close())
  const err = await client.postActivity(message).catch((e: unknown) => e)
  t.type(err, CxAuthError)
  t.match(err, { message: /token endpoint: .*answered more than \d+ bytes/ })
  t.ok(server.sent < 64 * 1024 * 1024, `${server.sent} bytes sent before the client gave up`)
})

t.test('a trickling push answer hits the total deadline: the message is retried later, nothing hangs', async (t) => {
  const server = await startHostileServer(t, tricklingBody(100))
  const client = clientFor(server)
  t.teardown(() => client.close())
  const outcome = await client.postActivity(message)
  t.match(outcome, { kind: 'retry', reason: /did not answer within 800 ms/ })
  await new Promise((r) => setTimeout(r, 100))
  t.equal(server.cutOff, 1, 'the exchange was cut off')
})

t.test('a trickling voice-activities page hits the total deadline and fails the window', async (t) => {
  const server = await startHostileServer(t, tricklingBody(100))
  const client = clientFor(server)
  t.teardown(() => client.close())
  // With a run's signal, as the push job calls it: the deadline must still fire beside it.
  const run = new AbortController()
  await t.rejects(client.voiceActivities(window, run.signal).next(), { code: 'GW_ERR_UPSTREAM_TIMEOUT', message: /did not answer within 800 ms/ })
})
