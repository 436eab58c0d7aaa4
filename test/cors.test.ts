import t from 'tap'
import { signLegId } from '../src/auth/link-signature.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { makeHoldCall, startRig } from './recordings-setup.js'

/*
 * CORS_ORIGINS: a player on CX's agent desk (another origin) may fetch recordings with Range and read
 * the range headers; nothing else of the gateway becomes readable cross-origin, and without the setting
 * no CORS header is ever sent.
 */

const DESK = 'https://desk.example.com'
const KEY = 'cors-test-signing-key-0123456789'

function list(header: string | string[] | number | undefined): string[] {
  return String(header ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
}

t.test('allowed origins: a Range preflight is answered and range answers are readable', async (t) => {
  const rig = await startRig(t, { env: { CORS_ORIGINS: `${DESK}, http://localhost:8080`, LINK_SIGNING_KEY: KEY } })
  const call = await makeHoldCall(rig.dir, 'dlg-cors', {}, [0.5, 0.5])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}?sig=${signLegId(call.legId, KEY)}`

  const preflight = await rig.app.inject({
    method: 'OPTIONS',
    url,
    headers: { origin: DESK, 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' }
  })
  t.equal(preflight.statusCode, 204, 'preflight answered')
  t.equal(preflight.headers['access-control-allow-origin'], DESK)
  t.ok(list(preflight.headers['access-control-allow-methods']).includes('get'), 'GET allowed')
  t.ok(list(preflight.headers['access-control-allow-headers']).includes('range'), 'Range allowed')
  t.equal(preflight.headers['access-control-max-age'], '600')
  t.equal(rig.sim.requests.length, 0, 'a preflight asks Eleveo nothing')

  const ranged = await rig.app.inject({ method: 'GET', url, headers: { origin: DESK, range: 'bytes=0-99' } })
  t.equal(ranged.statusCode, 206)
  t.equal(ranged.headers['access-control-allow-origin'], DESK)
  t.ok(list(ranged.headers.vary).includes('origin'), 'Vary: Origin (the answer depends on it)')
  const exposed = list(ranged.headers['access-control-expose-headers'])
  for (const h of ['content-range', 'accept-ranges', 'content-length']) t.ok(exposed.includes(h), `${h} exposed`)
  t.equal(ranged.headers['access-control-allow-credentials'], undefined, 'no credentials: the signature is in the URL')

  const second = await rig.app.inject({ method: 'HEAD', url, headers: { origin: 'http://localhost:8080' } })
  t.equal(second.headers['access-control-allow-origin'], 'http://localhost:8080', 'every listed origin is allowed')

  const unsigned = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}`, headers: { origin: DESK } })
  t.equal(unsigned.statusCode, 401, 'the signature is still required for the real request')
  t.equal(unsigned.headers['access-control-allow-origin'], DESK, 'and the player can read why it was refused')
  t.match(unsigned.json(), { statusCode: 401 })
})

t.test('other origins and other routes get no CORS headers', async (t) => {
  const rig = await startRig(t, { env: { CORS_ORIGINS: DESK } })
  const call = await makeHoldCall(rig.dir, 'dlg-cors-other', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`

  const evil = await rig.app.inject({ method: 'GET', url, headers: { origin: 'https://evil.example.com', range: 'bytes=0-9' } })
  t.equal(evil.statusCode, 206, 'the answer itself is the same (no CORS is not access control)')
  t.equal(evil.headers['access-control-allow-origin'], undefined, 'but a browser on that origin may not read it')
  const evilPreflight = await rig.app.inject({
    method: 'OPTIONS',
    url,
    headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' }
  })
  t.equal(evilPreflight.headers['access-control-allow-origin'], undefined, 'preflight from another origin not allowed')
  const prefixed = await rig.app.inject({ method: 'GET', url, headers: { origin: `${DESK}.evil.example.com` } })
  t.equal(prefixed.headers['access-control-allow-origin'], undefined, 'origins compare whole, not by prefix')

  for (const path of ['/health/live', '/metrics', '/openapi.json']) {
    const res = await rig.app.inject({ method: 'GET', url: path, headers: { origin: DESK } })
    t.equal(res.headers['access-control-allow-origin'], undefined, `${path}: no CORS`)
    const pre = await rig.app.inject({
      method: 'OPTIONS',
      url: path,
      headers: { origin: DESK, 'access-control-request-method': 'GET' }
    })
    t.equal(pre.statusCode, 404, `${path}: preflight not answered`)
    t.equal(pre.headers['access-control-allow-origin'], undefined)
    t.match(pre.json(), { statusCode: 404, error: 'Not Found' }, `${path}: JSON 404`)
  }
  t.notOk(
    rig.app.routeCatalog.some((r) => r.method === 'OPTIONS'),
    'preflight routes are not API operations (not in the catalogue checked against openapi.yaml)'
  )
})

t.test('without CORS_ORIGINS no CORS header is sent and OPTIONS is not a route', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-cors-off', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`
  const res = await rig.app.inject({ method: 'GET', url, headers: { origin: DESK, range: 'bytes=0-9' } })
  t.equal(res.statusCode, 206)
  t.equal(res.headers['access-control-allow-origin'], undefined)
  t.equal(res.headers['access-control-expose-headers'], undefined)
  const pre = await rig.app.inject({
    method: 'OPTIONS',
    url,
    headers: { origin: DESK, 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' }
  })
  t.equal(pre.statusCode, 404)
  t.equal(pre.headers['access-control-allow-origin'], undefined)
})

t.test('CORS_ORIGINS=* allows any origin', async (t) => {
  const rig = await startRig(t, { env: { CORS_ORIGINS: '*' } })
  const call = await makeHoldCall(rig.dir, 'dlg-cors-any', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  const res = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}`, headers: { origin: 'https://any.example.org' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['access-control-allow-origin'], '*')
})

t.test('CORS_ORIGINS: origins are normalised as browsers send them; anything else names itself', async (t) => {
  const base = { ELEVEO_BASE_URL: 'http://127.0.0.1:9' }
  t.same(loadConfig(base).corsOrigins, [], 'default: none')
  t.same(
    loadConfig({ ...base, CORS_ORIGINS: 'https://Desk.Example.com:443 , http://127.0.0.1:8080,' }).corsOrigins,
    ['https://desk.example.com', 'http://127.0.0.1:8080']
  )
  const bad = (value: string, message: string): void => {
    t.throws(() => loadConfig({ ...base, CORS_ORIGINS: value }), new ConfigError('CORS_ORIGINS', message), value)
  }
  const form = 'is not an origin: expected scheme://host[:port] (http or https, no path, no trailing slash)'
  bad('https://desk.example.com/', `"https://desk.example.com/" ${form}`)
  bad('https://desk.example.com/app', `"https://desk.example.com/app" ${form}`)
  bad('desk.example.com', `"desk.example.com" ${form}`)
  bad('ftp://desk.example.com', `"ftp://desk.example.com" ${form}`)
  bad('*, https://desk.example.com', '`*` (any origin) cannot be combined with other origins')
})
