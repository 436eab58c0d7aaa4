import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { request } from 'undici'
import { makeTone } from './helpers/sox.js'
import { dataOf, setDataSize, setRiffSize } from './helpers/wav-craft.js'
import { audioRequests, iso, startRig, T0 } from './recordings-setup.js'
import type { SimEleveoLeg } from '../simulators/eleveo.js'

/*
 * Bounds on what one recording may cost, as a client sees them: a leg split into more parts than
 * MAX_SEGMENTS_PER_LEG is a 502 before any part is asked for, part headers are read a few at a time
 * (counted at the simulator), and sizes no recording can have are a 502, not a 500 or a nonsense header.
 */

interface ErrorBody {
  statusCode: number
  code?: string
  error: string
  message: string
}

async function origin(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

/** One agent's leg split `parts` times by HOLD, every part served from the same file. */
function holdChain(dialogId: string, parts: number, wavPath?: string): { legs: SimEleveoLeg[]; legId: string } {
  const legs: SimEleveoLeg[] = []
  for (let i = 0; i < parts; i++) {
    const leg: SimEleveoLeg = {
      id: `p${i}`,
      dialogId,
      agentExtension: '1001',
      ani: '+41',
      start: iso(T0 + i * 1000),
      end: iso(T0 + i * 1000 + 900),
      endReason: i < parts - 1 ? 'HOLD' : 'HANGUP'
    }
    if (wavPath !== undefined) leg.wavPath = wavPath
    legs.push(leg)
  }
  return { legs, legId: `${dialogId}:1001:+41:${T0}` }
}

t.test('a 20,000-part HOLD chain: 502 naming MAX_SEGMENTS_PER_LEG, no part asked for, liveness answers meanwhile', async (t) => {
  const rig = await startRig(t)
  const chain = holdChain('dlg-chain', 20_000)
  rig.sim.legs.push(...chain.legs)
  const base = await origin(rig.app)

  const recording = request(`${base}/recordings/${chain.legId}`)
  const live = await request(`${base}/health/live`)
  t.equal(live.statusCode, 200, 'liveness answers while the listing is merged')
  t.same(await live.body.json(), { status: 'ok' })

  const res = await recording
  t.equal(res.statusCode, 502)
  const body = (await res.body.json()) as ErrorBody
  t.match(body, { statusCode: 502, code: 'GW_ERR_TOO_MANY_SEGMENTS', error: 'Bad Gateway' })
  t.match(body.message, /20000 parts, more than MAX_SEGMENTS_PER_LEG \(1000\)/)
  t.equal(audioRequests(rig.sim).length, 0, 'not one part header was asked for')
})

t.test('MAX_SEGMENTS_PER_LEG is configurable: at 39 a 40-part leg is refused', async (t) => {
  const rig = await startRig(t, { env: { MAX_SEGMENTS_PER_LEG: '39', LEG_CACHE_TTL_MS: '0' } })
  const wav = await makeTone(join(rig.dir, 'part.wav'), { seconds: 0.05 })
  rig.sim.legs.push(...holdChain('dlg-forty', 40, wav).legs)
  const refused = await rig.app.inject({ method: 'GET', url: `/recordings/dlg-forty:1001:+41:${T0}` })
  t.equal(refused.statusCode, 502)
  t.match(refused.json(), { code: 'GW_ERR_TOO_MANY_SEGMENTS' })
  t.equal(audioRequests(rig.sim).length, 0)
})

t.test('part headers are read at most 8 at a time', async (t) => {
  // Latency at the simulator keeps requests open long enough to overlap if they are sent together.
  const rig = await startRig(t, { sim: { latencyMs: 30 } })
  const wav = await makeTone(join(rig.dir, 'part.wav'), { seconds: 0.05 })
  const chain = holdChain('dlg-forty', 40, wav)
  rig.sim.legs.push(...chain.legs)
  const base = await origin(rig.app)

  const res = await request(`${base}/recordings/${chain.legId}`, { method: 'HEAD' })
  t.equal(res.statusCode, 200)
  await res.body.dump()
  const part = await readFile(wav)
  t.equal(Number(res.headers['content-length']), 44 + 40 * dataOf(part).length, 'one header and 40 parts of data')
  t.equal(audioRequests(rig.sim).length, 40, 'every part header read once')
  t.ok(rig.sim.peakInFlight.audio <= 8, `at most 8 header reads at once (${rig.sim.peakInFlight.audio})`)
  t.ok(rig.sim.peakInFlight.audio >= 2, `header reads do overlap (${rig.sim.peakInFlight.audio})`)
})

t.test('a size beyond Number.MAX_SAFE_INTEGER in Content-Range: 502 for HEAD and GET, not a 1e+23 length or a 500', async (t) => {
  const rig = await startRig(t)
  const tone = await readFile(await makeTone(join(rig.dir, 'tone.wav'), { seconds: 0.2 }))
  // A streaming recorder's placeholder sizes: the real size is taken from what the server says.
  const wavPath = join(rig.dir, 'placeholder.wav')
  await writeFile(wavPath, setRiffSize(setDataSize(tone, 0xffffffff), 0xffffffff))
  const { legs, legId } = holdChain('dlg-huge', 1, wavPath)
  rig.sim.legs.push(...legs)
  rig.sim.setFault('huge-size', { target: 'audio' })

  for (const method of ['HEAD', 'GET'] as const) {
    const res = await rig.app.inject({ method, url: `/recordings/${legId}` })
    t.equal(res.statusCode, 502, `${method}: 502`)
    t.not(res.headers['content-length'], '1e+23')
    if (method === 'GET') {
      const body = res.json<ErrorBody>()
      t.match(body, { code: 'GW_ERR_RECORDING_TOO_LARGE' })
      t.match(body.message, /claims 1e\+23 bytes, more than MAX_RECORDING_BYTES/)
    }
  }
})

t.test('MAX_RECORDING_BYTES: a merged recording larger than the limit is a 502 before any audio is read', async (t) => {
  const rig = await startRig(t, { env: { MAX_RECORDING_BYTES: '5000' } })
  const wav = await makeTone(join(rig.dir, 'part.wav'), { seconds: 0.2 }) // 3244 bytes: each part fits, two do not
  const { legs, legId } = holdChain('dlg-big', 2, wav)
  rig.sim.legs.push(...legs)
  const res = await rig.app.inject({ method: 'GET', url: `/recordings/${legId}` })
  t.equal(res.statusCode, 502)
  t.match(res.json<ErrorBody>(), { code: 'GW_ERR_RECORDING_TOO_LARGE', message: /6444 bytes, more than MAX_RECORDING_BYTES \(5000\)/ })
  t.equal(audioRequests(rig.sim).filter((r) => r.range !== 'bytes=0-4095').length, 0, 'only header probes were sent')
})
