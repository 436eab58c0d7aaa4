import t from 'tap'
import { buildApp } from '../../src/app.js'
import { signLegId } from '../../src/auth/link-signature.js'
import { redactAccessParams } from '../../src/auth/redact.js'
import { gatewayConfig } from '../recordings-setup.js'
import { startEleveoSimulator } from '../../simulators/eleveo.js'

/*
 * Fastify decodes query parameter names before the signature check, so `?%73ig=` is `?sig=` to the
 * gateway: the logs must treat it the same way, whatever spelling the client chose.
 */

t.test('access parameters are redacted by their decoded name', async (t) => {
  const cases: [string, string][] = [
    ['/r/x?sig=abc', '/r/x?sig=[REDACTED]'],
    ['/r/x?%73ig=abc', '/r/x?%73ig=[REDACTED]'],
    ['/r/x?a=1&%53%49%47=abc&b=2', '/r/x?a=1&%53%49%47=[REDACTED]&b=2'],
    ['/r/x?s%69gnature=abc', '/r/x?s%69gnature=[REDACTED]'],
    ['/r/x?%61ccess_token=abc#f', '/r/x?%61ccess_token=[REDACTED]#f'],
    ['/r/x?%2573ig=abc', '/r/x?%2573ig=[REDACTED]'],
    ['refused "https://gw/r/x?to%6Ben=abc" here', 'refused "https://gw/r/x?to%6Ben=[REDACTED]" here']
  ]
  for (const [raw, want] of cases) t.equal(redactAccessParams(raw), want, raw)
  t.equal(redactAccessParams('/r/x?sign=abc&design=x'), '/r/x?sign=abc&design=x', 'other names are left alone')
  t.equal(redactAccessParams('/r/x?%ZZsig=abc'), '/r/x?%ZZsig=abc', 'a malformed escape is not a sig parameter')
})

t.test('a signature sent as ?%73ig= is accepted and never logged', async (t) => {
  const sim = await startEleveoSimulator({ username: 'eleveo', password: 'eleveo-secret', legs: [] })
  t.teardown(() => sim.close())
  const key = 'redact-test-signing-key-0123456'
  const lines: string[] = []
  const app = await buildApp({
    config: gatewayConfig(sim.url, { LINK_SIGNING_KEY: key, LOG_LEVEL: 'info' }),
    logger: { stream: { write: (line: string) => void lines.push(line) } }
  })
  t.teardown(() => app.close())
  const legId = 'dlg-redact:1001:123:1764000000000'
  const sig = signLegId(legId, key)
  const res = await app.inject({ method: 'GET', url: `/recordings/${legId}?%73ig=${sig}` })
  t.equal(res.statusCode, 404, 'the encoded name passes the signature check (the leg is unknown)')
  const all = lines.join('')
  t.ok(all.includes('%73ig=[REDACTED]'), 'the request line is logged, redacted')
  t.notOk(all.includes(sig), 'the signature is nowhere in the logs')
})
