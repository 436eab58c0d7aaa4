import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { request } from 'undici'
import { buildApp } from '../src/app.js'
import { signLegId } from '../src/auth/link-signature.js'
import { recordingLink } from '../src/jobs/link.js'
import { makeTone, soxConcat, soxSamples, tempDir } from './helpers/sox.js'
import { cxLeg, eleveoLeg, legIdOf, startPushRig } from './push-rig.js'
import { gatewayConfig, makeHoldCall, startRig } from './recordings-setup.js'

/*
 * Signed links: what CX receives carries ?sig=, the recording behind it streams; anything else is
 * refused with 401/403 before Eleveo hears of it. Real HTTP (listening gateway, undici) for the audio.
 */

const KEY = 'link-key-current-0123456789abcdef'
const OLD_KEY = 'link-key-previous-fedcba9876543210'

interface ErrorBody {
  statusCode: number
  code?: string
  error: string
  message: string
}

function origin(app: FastifyInstance): string {
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

function pathOf(link: string): string {
  const u = new URL(link)
  return `${u.pathname}${u.search}`
}

t.test('a pushed link carries a signature and streams the merged recording; sox agrees sample by sample', async (t) => {
  const dir = await tempDir(t, 'cxgw-sig-')
  const start = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
  const paths: string[] = []
  const legs = []
  for (const [i, seconds] of [1.2, 0.8, 1.5].entries()) {
    const path = join(dir, `part-${i}.wav`)
    await makeTone(path, { seconds, freq: 350 + 120 * i })
    paths.push(path)
    const at = start + i * 20_000
    legs.push({ ...eleveoLeg(`rec-${i}`, 'dlg-signed', '1001', at, at + seconds * 1000, i < 2 ? 'HOLD' : 'HANGUP'), wavPath: path })
  }
  const activity = cxLeg('dlg-signed', '1001', start)
  const rig = await startPushRig(t, { activities: [activity], legs, env: { LINK_SIGNING_KEY: KEY } })

  const report = await rig.run()
  t.equal(report.pushed, 1, 'one link pushed')
  const [received] = rig.cx.received
  if (received === undefined) throw new Error('CX received nothing')
  const legId = legIdOf(activity)
  const url = new URL(received.mediaUrl)
  t.equal(url.searchParams.get('sig'), signLegId(legId, KEY), 'the link carries the HMAC of its legId')
  t.equal(received.mediaUrl, recordingLink(rig.config, legId), 'built by recordingLink')

  await rig.app.listen({ host: '127.0.0.1', port: 0 })
  const res = await request(`${origin(rig.app)}${pathOf(received.mediaUrl)}`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'audio/wav')
  const body = Buffer.from(await res.body.arrayBuffer())
  const out = join(dir, 'served.wav')
  await writeFile(out, body)
  const [ours, theirs] = await Promise.all([soxSamples(out), soxSamples(await soxConcat(paths, join(dir, 'ref.wav')))])
  t.equal(ours.length, theirs.length, 'as many samples as sox')
  t.ok(Buffer.from(ours.buffer).equals(Buffer.from(theirs.buffer)), 'the same samples as sox')
})

t.test('missing, wrong, foreign and repeated signatures: 401/403 as JSON for GET and HEAD, Eleveo never asked', async (t) => {
  const rig = await startRig(t, { env: { LINK_SIGNING_KEY: KEY } })
  const call = await makeHoldCall(rig.dir, 'dlg-auth', {}, [0.5, 0.5])
  rig.sim.legs.push(...call.legs)
  const legId = encodeURIComponent(call.legId)
  const otherSig = signLegId(call.legId.replace('dlg-auth', 'dlg-other'), KEY)
  const cases: { query: string; status: number; code: string }[] = [
    { query: '', status: 401, code: 'GW_ERR_UNAUTHORIZED' },
    { query: '?sig=', status: 401, code: 'GW_ERR_UNAUTHORIZED' },
    { query: '?sig=not-the-signature', status: 403, code: 'GW_ERR_FORBIDDEN' },
    { query: `?sig=${otherSig}`, status: 403, code: 'GW_ERR_FORBIDDEN' },
    { query: `?sig=${signLegId(call.legId, 'some-other-key-0123456789')}`, status: 403, code: 'GW_ERR_FORBIDDEN' },
    { query: `?sig=${signLegId(call.legId, KEY)}&sig=${signLegId(call.legId, KEY)}`, status: 403, code: 'GW_ERR_FORBIDDEN' }
  ]
  for (const c of cases) {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await rig.app.inject({ method, url: `/recordings/${legId}${c.query}` })
      t.equal(res.statusCode, c.status, `${method} ${c.query || '(no sig)'}: ${c.status}`)
      t.match(res.headers['content-type'], /^application\/json/, 'JSON, not audio')
      t.notOk(res.headers['content-length'] !== undefined && res.headers['accept-ranges'] !== undefined, 'no audio headers')
      if (method === 'GET') {
        const body = res.json<ErrorBody>()
        t.match(body, { statusCode: c.status, code: c.code, error: c.status === 401 ? 'Unauthorized' : 'Forbidden' })
        t.type(body.message, 'string')
      }
    }
  }
  t.same(rig.sim.requests, [], 'Eleveo was never asked')

  const bad = await rig.app.inject({ method: 'GET', url: `/recordings/dlg:1001:123:yesterday?sig=${signLegId('dlg:1001:123:yesterday', KEY)}` })
  t.equal(bad.statusCode, 400, 'a malformed legId is a 400 even with a signature')
  const unsigned = await rig.app.inject({ method: 'GET', url: '/recordings/dlg:1001' })
  t.equal(unsigned.statusCode, 400, 'and without one: the client learns what is wrong with the link, not that it lacks a signature')
  t.match(unsigned.json<ErrorBody>(), { statusCode: 400, error: 'Bad Request', message: /4 parts/ })
  t.same(rig.sim.requests, [], 'still not asked')
})

t.test('the signature covers the canonical legId: percent-encoded and literal colons both verify', async (t) => {
  const rig = await startRig(t, { env: { LINK_SIGNING_KEY: KEY } })
  const call = await makeHoldCall(rig.dir, 'dlg-canon', {}, [0.5, 0.5])
  rig.sim.legs.push(...call.legs)
  const sig = signLegId(call.legId, KEY)
  const forms = [encodeURIComponent(call.legId), call.legId.replace(/:/g, '%3a').replace('+', '%2B'), call.legId.replace('+', '%2B')]
  for (const form of forms) {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await rig.app.inject({ method, url: `/recordings/${form}?sig=${sig}` })
      t.equal(res.statusCode, 200, `${method} ${form}`)
      t.equal(res.headers['content-type'], 'audio/wav')
    }
  }
})

t.test('key rotation: links signed with an old key verify while it is listed in LINK_SIGNING_KEYS_OLD', async (t) => {
  const rig = await startRig(t, { env: { LINK_SIGNING_KEY: KEY, LINK_SIGNING_KEYS_OLD: `unrelated-key-000000000, ${OLD_KEY}` } })
  const call = await makeHoldCall(rig.dir, 'dlg-rotate', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  const url = (key: string): string => `/recordings/${encodeURIComponent(call.legId)}?sig=${signLegId(call.legId, key)}`

  t.equal((await rig.app.inject({ method: 'GET', url: url(KEY) })).statusCode, 200, 'current key')
  t.equal((await rig.app.inject({ method: 'GET', url: url(OLD_KEY) })).statusCode, 200, 'old key')
  t.equal(recordingLink(gatewayConfig(rig.sim.url, { LINK_SIGNING_KEY: KEY, LINK_SIGNING_KEYS_OLD: OLD_KEY }), call.legId).split('sig=')[1], signLegId(call.legId, KEY), 'only the current key signs')

  const retired = await buildApp({ config: gatewayConfig(rig.sim.url, { LINK_SIGNING_KEY: KEY }), logger: false })
  t.teardown(() => retired.close())
  const res = await retired.inject({ method: 'GET', url: url(OLD_KEY) })
  t.equal(res.statusCode, 403, 'once the old key is dropped its links stop working')
})

t.test('without LINK_SIGNING_KEY: unsigned links, no verification, and a warning at start-up', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-open', {}, [0.5])
  rig.sim.legs.push(...call.legs)
  const config = gatewayConfig(rig.sim.url, { PUBLIC_BASE_URL: 'https://gw.example.com' })
  t.equal(recordingLink(config, call.legId), `https://gw.example.com/recordings/${encodeURIComponent(call.legId)}`, 'no ?sig=')
  t.equal((await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })).statusCode, 200, 'served without a signature')
  t.equal((await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}?sig=whatever` })).statusCode, 200, 'a sig is ignored')

  const lines: string[] = []
  const app = await buildApp({ config: gatewayConfig(rig.sim.url, { LOG_LEVEL: 'info' }), logger: { stream: { write: (l: string) => void lines.push(l) } } })
  await app.close()
  const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => /LINK_SIGNING_KEY is not set/.test(l.msg))
  t.ok(warning, 'start-up says recordings are public')
  t.equal(warning?.level, 40, 'at warn level')
  t.match(warning?.msg, /anyone/)

  const quiet: string[] = []
  const signed = await buildApp({ config: gatewayConfig(rig.sim.url, { LOG_LEVEL: 'info', LINK_SIGNING_KEY: KEY }), logger: { stream: { write: (l: string) => void quiet.push(l) } } })
  await signed.close()
  t.notOk(quiet.some((l) => l.includes('LINK_SIGNING_KEY is not set')), 'no warning when a key is set')
})
