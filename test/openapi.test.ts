import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance, InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import YAML from 'yaml'
import { signLegId } from '../src/auth/link-signature.js'
import { documentedRoutes, findSpecification } from '../plugins/docs.js'
import { configVariables } from './helpers/config-variables.js'
import { makeTone } from './helpers/sox.js'
import { ADMIN_TOKEN, cxLeg, eleveoLeg, PUBLIC_BASE_URL, startPushRig } from './push-rig.js'
import { makeHoldCall, startRig } from './recordings-setup.js'

/*
 * openapi.yaml is the contract: every route the gateway registers is in it, everything in it exists,
 * and real answers (status, content type, documented headers, JSON body against the schema) match it.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KEY = 'openapi-test-signing-key-0123456789'
const METRICS_TOKEN = 'openapi-metrics-token-0123456789'

type Json = Record<string, unknown>

interface Answer {
  statusCode: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** A JSON pointer segment (RFC 6901). */
const esc = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1')

function openapiPath(route: string): string {
  return route.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

class Contract {
  readonly #spec: Json
  readonly #ajv: Ajv

  constructor(spec: Json) {
    this.#spec = spec
    // OpenAPI 3.0 schemas are JSON Schema plus a few keywords (nullable, example): ajv knows nullable,
    // and non-strict mode lets it ignore annotations such as example.
    this.#ajv = new Ajv({ strict: false, allErrors: true })
    addFormats.default(this.#ajv)
    this.#ajv.addSchema(spec, 'openapi')
  }

  #at(pointer: string): unknown {
    let node: unknown = this.#spec
    for (const raw of pointer.split('/').slice(1)) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
      node = node !== null && typeof node === 'object' ? (node as Json)[key] : undefined
    }
    return node
  }

  /** Follows a `$ref` (responses are not schemas, so ajv does not do it for us). */
  #deref(pointer: string): { pointer: string; node: Json } | null {
    const node = this.#at(pointer)
    if (node === null || typeof node !== 'object') return null
    const ref = (node as Json).$ref
    return typeof ref === 'string' ? this.#deref(ref.replace(/^#/, '')) : { pointer, node: node as Json }
  }

  check(t: Test, method: string, route: string, res: Answer, label = `${method} ${route} → ${res.statusCode}`): void {
    const opPointer = `/paths/${esc(openapiPath(route))}/${method.toLowerCase()}`
    const op = this.#at(opPointer)
    if (!t.ok(op, `${label}: operation documented`)) return
    const response = this.#deref(`${opPointer}/responses/${res.statusCode}`)
    if (!t.ok(response, `${label}: status documented`) || response === null) return

    if (method !== 'HEAD') {
      const headers = (response.node.headers ?? {}) as Json
      for (const name of Object.keys(headers)) t.ok(res.headers[name.toLowerCase()] !== undefined, `${label}: documented header ${name} present`)
    }
    if (method === 'HEAD' || res.body === '') return

    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim()
    const content = (response.node.content ?? {}) as Json
    if (!t.ok(content[type], `${label}: content type ${type} documented (${Object.keys(content).join(', ')})`)) return
    if (type !== 'application/json') return
    const validate = this.#ajv.compile({ $ref: `openapi#${response.pointer}/content/${esc(type)}/schema` })
    const ok = validate(JSON.parse(res.body))
    t.ok(ok, `${label}: body matches the schema`, { errors: validate.errors, body: res.body })
  }
}

async function answer(app: FastifyInstance, opts: InjectOptions): Promise<Answer> {
  const res = await app.inject(opts)
  return { statusCode: res.statusCode, headers: res.headers, body: res.body }
}

t.test('the document is served as JSON and YAML, the same, with PUBLIC_BASE_URL as its server', async (t) => {
  const rig = await startRig(t, { env: { PUBLIC_BASE_URL: 'https://recordings.example.com' } })
  const json = await rig.app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(json.statusCode, 200)
  t.match(json.headers['content-type'], /^application\/json/)
  const yaml = await rig.app.inject({ method: 'GET', url: '/openapi.yaml' })
  t.equal(yaml.statusCode, 200)
  t.match(yaml.headers['content-type'], /^application\/yaml/)
  const doc = json.json<Json>()
  t.same(YAML.parse(yaml.body), doc, 'YAML and JSON say the same')
  t.same(doc.servers, [{ url: 'https://recordings.example.com' }])
  t.match(doc, { openapi: /^3\./, info: { title: 'cx-recording-gateway' } })
})

t.test('every registered route is documented and every documented route exists', async (t) => {
  // Everything switched on: pushing (admin routes), signing, metrics token.
  const rig = await startPushRig(t, { env: { ADMIN_TOKEN, LINK_SIGNING_KEY: KEY, METRICS_TOKEN } })
  const doc = (await rig.app.inject({ method: 'GET', url: '/openapi.json' })).json<Json>()
  const documented = documentedRoutes(doc)
  const key = (r: { method: string; url: string }): string => `${r.method} ${r.url}`
  const docSet = new Set(documented.map(key))
  const registered = rig.app.routeCatalog
  t.ok(registered.length >= 10, `${registered.length} routes registered`)

  for (const r of registered) {
    // HTTP defines HEAD by GET; Fastify adds the HEAD twin of every GET route itself.
    const covered = docSet.has(key(r)) || (r.method === 'HEAD' && docSet.has(`GET ${r.url}`))
    t.ok(covered, `${key(r)} is documented`)
  }
  const regSet = new Set(registered.map(key))
  for (const d of documented) t.ok(regSet.has(key(d)), `${key(d)} exists`)
  for (const d of documented) t.ok(rig.app.hasRoute({ method: d.method, url: d.url }), `${key(d)} answers`)
})

t.test('real answers match the documented status codes, content types, headers and schemas', async (t) => {
  const dir = tmpdir()
  const b = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
  const paths: string[] = []
  for (let i = 0; i < 2; i++) paths.push(await makeTone(join(dir, `cxgw-openapi-${process.pid}-${i}.wav`), { seconds: 0.5, freq: 400 + 100 * i }))
  t.teardown(() => Promise.all(paths.map((p) => rm(p, { force: true }))))
  const rig = await startPushRig(t, {
    activities: [cxLeg('dlg-doc', '1001', b)],
    legs: [
      { ...eleveoLeg('rec-0', 'dlg-doc', '1001', b, b + 500, 'HOLD'), wavPath: paths[0] },
      { ...eleveoLeg('rec-1', 'dlg-doc', '1001', b + 10_000, b + 10_500, 'HANGUP'), wavPath: paths[1] }
    ],
    env: { ADMIN_TOKEN, LINK_SIGNING_KEY: KEY, METRICS_TOKEN, RATE_LIMIT_MAX: '30' }
  })
  const app = rig.app
  const contract = new Contract((await app.inject({ method: 'GET', url: '/openapi.json' })).json<Json>())
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
  const REC = '/recordings/:legId'
  const ADMIN_RUNS = '/admin/push-runs'
  const ADMIN_LATEST = '/admin/push-runs/latest'

  // Admin before any run, then the push that gives us a signed link.
  contract.check(t, 'GET', ADMIN_LATEST, await answer(app, { method: 'GET', url: ADMIN_LATEST, headers: admin }))
  contract.check(t, 'GET', ADMIN_LATEST, await answer(app, { method: 'GET', url: ADMIN_LATEST }))
  contract.check(t, 'POST', ADMIN_RUNS, await answer(app, { method: 'POST', url: ADMIN_RUNS }))
  contract.check(t, 'POST', ADMIN_RUNS, await answer(app, { method: 'POST', url: ADMIN_RUNS, headers: admin, payload: { start: 'yesterday' } }))
  const started = await answer(app, { method: 'POST', url: ADMIN_RUNS, headers: admin })
  t.equal(started.statusCode, 202)
  contract.check(t, 'POST', ADMIN_RUNS, started)
  contract.check(t, 'GET', ADMIN_LATEST, await answer(app, { method: 'GET', url: ADMIN_LATEST, headers: admin }))
  while (rig.runner.running !== null) await new Promise((resolve) => setTimeout(resolve, 20))
  const latest = await answer(app, { method: 'GET', url: ADMIN_LATEST, headers: admin })
  t.equal(latest.statusCode, 200)
  t.match(JSON.parse(latest.body), { status: 'ok', pushed: 1 })
  contract.check(t, 'GET', ADMIN_LATEST, latest)

  const [received] = rig.cx.received
  if (received === undefined) throw new Error('no link was pushed')
  const link = received.mediaUrl.slice(PUBLIC_BASE_URL.length)
  const legId = decodeURIComponent(new URL(received.mediaUrl).pathname.split('/').pop() ?? '')
  const statuses = new Map<string, number>()
  const rec = async (method: 'GET' | 'HEAD', url: string, headers: Record<string, string> = {}, remoteAddress?: string): Promise<void> => {
    const a = await answer(app, { method, url, headers, ...(remoteAddress ? { remoteAddress } : {}) })
    statuses.set(`${method} ${a.statusCode}`, (statuses.get(`${method} ${a.statusCode}`) ?? 0) + 1)
    contract.check(t, method, REC, a)
  }
  await rec('GET', link)
  await rec('HEAD', link)
  await rec('GET', link, { range: 'bytes=0-99' })
  await rec('GET', link, { range: 'bytes=99999999-' })
  await rec('GET', `/recordings/${encodeURIComponent(legId)}`)
  await rec('GET', `/recordings/${encodeURIComponent(legId)}?sig=wrong`)
  await rec('GET', `/recordings/dlg:1001:123:yesterday?sig=x`)
  const unknown = 'dlg-unknown:1001:123:1700000000000'
  await rec('GET', `/recordings/${unknown}?sig=${signLegId(unknown, KEY)}`)
  rig.eleveo.setFault('error500', { dialogId: 'dlg-fail', target: 'metadata' })
  const failing = 'dlg-fail:1001:123:1700000000000'
  await rec('GET', `/recordings/${failing}?sig=${signLegId(failing, KEY)}`)
  for (let i = 0; i < 31; i++) await rec('GET', `/recordings/${encodeURIComponent(legId)}`, {}, '10.7.7.7')
  t.same(
    [...statuses.keys()].sort(),
    ['GET 200', 'GET 206', 'GET 400', 'GET 401', 'GET 403', 'GET 404', 'GET 416', 'GET 429', 'GET 502', 'HEAD 200'],
    'every recording answer was exercised'
  )

  contract.check(t, 'GET', '/health/live', await answer(app, { method: 'GET', url: '/health/live' }))
  const starting = await answer(app, { method: 'GET', url: '/health/ready' })
  t.equal(starting.statusCode, 503)
  contract.check(t, 'GET', '/health/ready', starting)
  await app.readiness.refresh()
  const ready = await answer(app, { method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  contract.check(t, 'GET', '/health/ready', ready)

  contract.check(t, 'GET', '/metrics', await answer(app, { method: 'GET', url: '/metrics' }))
  const metrics = await answer(app, { method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  t.equal(metrics.statusCode, 200)
  contract.check(t, 'GET', '/metrics', metrics)
  contract.check(t, 'GET', '/openapi.json', await answer(app, { method: 'GET', url: '/openapi.json' }))
  contract.check(t, 'GET', '/openapi.yaml', await answer(app, { method: 'GET', url: '/openapi.yaml' }))
})

t.test('answers under pressure match the document too', async (t) => {
  const rig = await startRig(t, { env: { MAX_HEAP_USED_BYTES: '1' } })
  const call = await makeHoldCall(rig.dir, 'dlg-doc-pressure', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  const deadline = Date.now() + 10_000
  while (!rig.app.isUnderPressure() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  // The docs routes are shed too (503): read the document from disk.
  const contract = new Contract(YAML.parse(await readFile(findSpecification(), 'utf8')) as Json)
  contract.check(t, 'GET', '/openapi.yaml', await answer(rig.app, { method: 'GET', url: '/openapi.yaml' }))

  const shed = await answer(rig.app, { method: 'GET', url: `/recordings/${call.legId}` })
  t.equal(shed.statusCode, 503)
  contract.check(t, 'GET', '/recordings/:legId', shed)
  const ready = await answer(rig.app, { method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  contract.check(t, 'GET', '/health/ready', ready)
  contract.check(t, 'GET', '/health/live', await answer(rig.app, { method: 'GET', url: '/health/live' }))
})

t.test('README: the quick start is exactly `npm ci && npm run demo`, and the table lists every variable config.ts reads', async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const quick = /## Quick start\n\n```sh\n([^`]*)```/.exec(readme)
  t.equal(quick?.[1], 'npm ci && npm run demo\n')

  const read = await configVariables()
  t.ok(read.size >= 40, `${read.size} variables read by src/config.ts`)
  const table = readme.slice(readme.indexOf('### Configuration'))
  const rows = table.slice(0, table.indexOf('\n## '))
  const documented = new Set([...rows.matchAll(/^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((n) => n[1]!)))
  for (const name of read) t.ok(documented.has(name), `${name} is in the README's configuration table`)
  for (const name of documented) t.ok(read.has(name), `${name} (README) is read by src/config.ts`)
})
