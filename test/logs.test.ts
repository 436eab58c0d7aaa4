import { join } from 'node:path'
import t from 'tap'
import { signLegId } from '../src/auth/link-signature.js'
import { makeTone, tempDir } from './helpers/sox.js'
import { ADMIN_TOKEN, CX_SECRETS, cxLeg, eleveoLeg, ELEVEO_PASSWORD, legIdOf, PUBLIC_BASE_URL, startPushRig } from './push-rig.js'

/*
 * The log stream of a gateway that pushes links and serves signed recordings: pino JSON, one line per
 * recording request with what an operator needs, and not one secret, token or signature anywhere.
 */

const KEY = 'logs-test-signing-key-current-01'
const OLD_KEY = 'logs-test-signing-key-previous-02'
const METRICS_TOKEN = 'logs-test-metrics-token-0123456'

interface Line {
  level: number
  msg: string
  [k: string]: unknown
}

t.test('a push and signed retrievals leave JSON logs with the request facts and no secrets', async (t) => {
  const dir = await tempDir(t, 'cxgw-logs-')
  const b = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
  const legs = []
  for (const [i, seconds] of [0.6, 0.4, 0.8].entries()) {
    const wavPath = await makeTone(join(dir, `part-${i}.wav`), { seconds, freq: 300 + 100 * i })
    const at = b + i * 15_000
    legs.push({ ...eleveoLeg(`rec-${i}`, 'dlg-logs', '1001', at, at + seconds * 1000, i < 2 ? 'HOLD' : 'HANGUP'), wavPath })
  }
  const activity = cxLeg('dlg-logs', '1001', b)
  const rig = await startPushRig(t, {
    activities: [activity],
    legs,
    env: { LINK_SIGNING_KEY: KEY, LINK_SIGNING_KEYS_OLD: OLD_KEY, ADMIN_TOKEN, METRICS_TOKEN, LOG_LEVEL: 'info' }
  })

  const report = await rig.run()
  t.equal(report.pushed, 1)
  const [received] = rig.cx.received
  if (received === undefined) throw new Error('nothing pushed')
  const sig = new URL(received.mediaUrl).searchParams.get('sig') ?? ''
  t.ok(sig.length > 20, 'the pushed link is signed')
  const legId = legIdOf(activity)
  const link = received.mediaUrl.slice(PUBLIC_BASE_URL.length)

  const served = await rig.app.inject({ method: 'GET', url: link })
  t.equal(served.statusCode, 200)
  const oldSig = signLegId(legId, OLD_KEY)
  t.equal((await rig.app.inject({ method: 'HEAD', url: `/recordings/${legId}?sig=${oldSig}` })).statusCode, 200)
  t.equal((await rig.app.inject({ method: 'GET', url: `/recordings/${legId}?sig=forged-${sig}` })).statusCode, 403)
  const unknown = 'dlg-nowhere:1001:123:1700000000000'
  const unknownSig = signLegId(unknown, KEY)
  t.equal((await rig.app.inject({ method: 'GET', url: `/recordings/${unknown}?sig=${unknownSig}` })).statusCode, 404)
  t.equal((await rig.app.inject({ method: 'GET', url: '/admin/push-runs/latest', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).statusCode, 200)
  t.equal((await rig.app.inject({ method: 'GET', url: '/admin/push-runs/latest', headers: { authorization: 'Bearer not-the-admin-token' } })).statusCode, 401)
  t.equal((await rig.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode, 200)

  t.ok(rig.logs.length > 10, `${rig.logs.length} log lines`)
  const lines: Line[] = []
  for (const raw of rig.logs) {
    for (const text of raw.split('\n').filter((l) => l !== '')) lines.push(JSON.parse(text) as Line)
  }
  t.ok(lines.every((l) => typeof l.level === 'number' && typeof l.time === 'number' && typeof l.msg === 'string'), 'every line is pino JSON')

  // The recording lines an operator reads.
  const ok = lines.find((l) => l.msg === 'recording served' && l.status === 200)
  t.match(ok, { legId, vendor: 'eleveo', segments: 3, bytes: served.rawPayload.length, complete: true, durationMs: Number })
  const head = lines.find((l) => l.msg === 'recording served' && l.bytes === 0)
  t.match(head, { legId, vendor: 'eleveo', segments: 3, durationMs: Number }, 'HEAD is logged too')
  const refused = lines.find((l) => l.msg === 'recording not served')
  t.match(refused, { legId: unknown, vendor: 'eleveo', status: 404, segments: 0, bytes: 0, durationMs: Number }, 'a refusal has its line with the same fields')
  // The route's closing line stands in for Fastify's 'request completed'; a request refused before the
  // route ran (the forged signature) keeps Fastify's.
  const routeLogged = new Set(lines.filter((l) => l.msg.startsWith('recording ')).map((l) => l.reqId))
  t.equal(routeLogged.size, 3, 'GET, HEAD and the unknown leg each have their recording line')
  t.notOk(lines.some((l) => l.msg === 'request completed' && routeLogged.has(l.reqId)), 'no second closing line for a recording request')
  t.ok(
    lines.some((l) => l.msg === 'request completed' && (l.res as { statusCode?: number } | undefined)?.statusCode === 403),
    'the request refused for its signature has Fastify\'s closing line'
  )
  const incoming = lines.filter((l) => l.msg === 'incoming request' && typeof (l.req as { url?: string } | undefined)?.url === 'string')
  t.ok(incoming.some((l) => (l.req as { url: string }).url.includes('sig=[REDACTED]')), 'request URLs are logged with the signature redacted')

  const basic = Buffer.from(`eleveo:${ELEVEO_PASSWORD}`).toString('base64')
  const secrets: [string, string][] = [
    ['CX client secret', CX_SECRETS.clientSecret],
    ['CX password', CX_SECRETS.password],
    ['Eleveo password', ELEVEO_PASSWORD],
    ['Eleveo basic credentials', basic],
    ['admin token', ADMIN_TOKEN],
    ['wrong admin token', 'not-the-admin-token'],
    ['metrics token', METRICS_TOKEN],
    ['LINK_SIGNING_KEY', KEY],
    ['LINK_SIGNING_KEYS_OLD', OLD_KEY],
    ['pushed signature', sig],
    ['old-key signature', oldSig],
    ['signature of the unknown leg', unknownSig],
    ...rig.cx.issued.map((token, i): [string, string] => [`CX access token ${i}`, token])
  ]
  t.ok(rig.cx.issued.length > 0, 'CX issued a token during the run')
  const all = rig.logs.join('')
  for (const [name, secret] of secrets) t.notOk(all.includes(secret), `no ${name} in the logs`)
})

t.test('a CX answer echoing a signed link it refused leaves no signature in the logs or the state', async (t) => {
  const b = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
  const activity = cxLeg('dlg-refused', '1001', b)
  const rig = await startPushRig(t, {
    activities: [activity],
    legs: [eleveoLeg('r0', 'dlg-refused', '1001', b, b + 5000)],
    env: { LINK_SIGNING_KEY: KEY, LOG_LEVEL: 'info' }
  })
  rig.cx.rejectWhen(() => true, 400)
  const sig = signLegId(legIdOf(activity), KEY)

  t.match(await rig.run(), { failed: 1, pushed: 0 })
  await rig.app.close()

  const all = rig.logs.join('')
  t.ok(all.includes('CX rejected the link'), 'the refusal is logged')
  t.ok(all.includes('sig=[REDACTED]'), 'with the echoed link, its signature redacted')
  t.notOk(all.includes(sig), 'no signature in the logs')
  const state = await readDir(rig.stateDir)
  t.ok(state.includes('unknown conversation'), 'the failed leg keeps CX answer')
  t.notOk(state.includes(sig), 'no signature in the state files')
})

async function readDir(dir: string): Promise<string> {
  const { readdir, readFile } = await import('node:fs/promises')
  const names = await readdir(dir)
  const texts = await Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')))
  return texts.join('\n')
}
