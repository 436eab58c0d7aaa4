import { Writable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { buildApp } from '../../src/app.js'
import { testConfig } from '../helpers/gateway-config.js'
import { UpstreamUnavailableError } from '../../src/errors.js'
import type { RecordingProvider } from '../../src/providers/types.js'
import type { Teardownable } from '../helpers/sox.js'
import { eventually } from '../helpers/eventually.js'

/** A provider whose look-ups fail the way a test needs; it never reaches any audio. */
function failingProvider(): RecordingProvider {
  return {
    name: 'eleveo',
    matchPolicy: { requireSameIdentity: false, toleranceMs: null },
    async findLegs(dialogId, signal) {
      if (dialogId === 'hang') {
        // Answers only by failing when the caller gives up.
        return new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true }))
      }
      if (dialogId === 'unavailable') throw new UpstreamUnavailableError('eleveo', 'maintenance window')
      throw new Error('TypeError deep inside at /srv/internal/secret-path.ts:42')
    },
    async statSegment() {
      throw new Error('not used')
    },
    async openSegment() {
      throw new Error('not used')
    },
    describeSegment: (segment) => segment.id,
    async ping() {},
    async close() {}
  }
}

async function appWithLogs(t: Teardownable): Promise<{ app: Awaited<ReturnType<typeof buildApp>>; lines: () => Record<string, unknown>[]; raw: string[] }> {
  const raw: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString())
      cb()
    }
  })
  const config = testConfig({ ELEVEO_BASE_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'info' })
  const app = await buildApp({ config, provider: failingProvider(), logger: { stream } })
  t.teardown(() => app.close())
  const lines = (): Record<string, unknown>[] => raw.flatMap((l) => l.trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { app, raw, lines }
}

t.test('503 carries Retry-After; unexpected errors become a generic 500 with details only in the log', async (t) => {
  const { app, lines } = await appWithLogs(t)

  const unavailable = await app.inject({ method: 'GET', url: '/recordings/unavailable:1:2:3' })
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.headers['retry-after'], '5')
  t.same(unavailable.json(), {
    statusCode: 503,
    code: 'GW_ERR_UPSTREAM_UNAVAILABLE',
    error: 'Service Unavailable',
    message: 'Upstream eleveo unavailable: maintenance window'
  })

  const bug = await app.inject({ method: 'GET', url: '/recordings/bug:1:2:3' })
  t.equal(bug.statusCode, 500)
  t.same(Object.keys(bug.json()).sort(), ['error', 'message', 'statusCode'])
  t.notMatch(bug.body, /secret-path|TypeError/, 'nothing internal reaches the client')

  const failed = lines().filter((l) => l.level === 50 && l.msg === 'request failed')
  t.equal(failed.length, 2, 'both 5xx are logged as errors')
  t.match(failed[1], { err: { message: /secret-path/, stack: /secret-path/ } }, 'the log has the real error')
})

t.test('4xx are logged at info; credentials and link signatures never reach the log', async (t) => {
  const { app, lines, raw } = await appWithLogs(t)
  const res = await app.inject({
    method: 'GET',
    url: '/recordings/bad:id?sig=SIGNATURE-VALUE&exp=1',
    headers: { authorization: 'Bearer TOKEN-VALUE', cookie: 'session=COOKIE-VALUE' }
  })
  t.equal(res.statusCode, 400)
  const rejected = lines().find((l) => l.msg === 'request rejected')
  t.match(rejected, { level: 30, err: { code: 'GW_ERR_BAD_LEG_ID' } }, '400 logged at info')
  t.notOk((rejected?.err as { stack?: string } | undefined)?.stack, 'without a stack: a client mistake is not a bug')
  t.notOk(lines().some((l) => (l.level as number) >= 50), 'and not as an error')
  const all = raw.join('')
  t.match(all, /sig=\[REDACTED\]/, 'the URL is logged with the signature removed')
  t.notMatch(all, /SIGNATURE-VALUE|TOKEN-VALUE|COOKIE-VALUE/)
})

t.test('a client hanging up is not logged as a failure', async (t) => {
  const { app, lines } = await appWithLogs(t)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const ac = new AbortController()
  const pending = request(`${address}/recordings/hang:1:2:3`, { signal: ac.signal })
  await eventually(() => lines().some((l) => l.msg === 'incoming request'))
  ac.abort()
  await t.rejects(pending)
  await eventually(() => lines().some((l) => l.msg === 'request rejected'))
  t.match(lines().find((l) => l.msg === 'request rejected'), { level: 30, err: { code: 'GW_ERR_CLIENT_CLOSED' } })
  t.notOk(lines().some((l) => (l.level as number) >= 50), 'no error logged')
})
