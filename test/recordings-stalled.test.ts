import { readFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { request } from 'undici'
import { makeTone, type Teardownable } from './helpers/sox.js'
import { audioRequests, iso, startRig, T0, type Rig } from './recordings-setup.js'

/*
 * Listeners who start a recording and stop reading, over real sockets: each pins an Eleveo connection
 * and a stream for as long as it stays. A fresh client must still get a clear answer at once (503 with
 * Retry-After), and SEND_TIMEOUT_MS must end the stalled responses and their upstream requests.
 */

interface ErrorBody {
  statusCode: number
  code?: string
  error: string
  message: string
}

async function origin(app: FastifyInstance): Promise<{ base: string; port: number }> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return { base: `http://127.0.0.1:${address.port}`, port: address.port }
}

/**
 * The most a stalled response can park in socket buffers: two hops (Eleveo → gateway, gateway → client),
 * each a send buffer and a receive buffer at the kernel's autotuning maxima. Receive buffers may grow
 * to 32 MB here, so a fixed 11 MB file sometimes fitted whole: the upstream then finished, and there
 * was nothing left to abort.
 */
async function socketBufferBytes(): Promise<number> {
  const max = async (file: string, fallback: number): Promise<number> =>
    readFile(file, 'utf8').then((text) => Number(text.trim().split(/\s+/)[2]) || fallback, () => fallback)
  return 2 * ((await max('/proc/sys/net/ipv4/tcp_rmem', 6 << 20)) + (await max('/proc/sys/net/ipv4/tcp_wmem', 4 << 20)))
}

/** Recordings `dlg-<i>` of one part each, all served from one file larger than the socket buffers can hold. */
async function bigRecordings(rig: Rig, count: number): Promise<string[]> {
  const bytesPerSecond = 48_000 * 2 * 2
  const seconds = Math.max(60, Math.ceil((1.25 * (await socketBufferBytes())) / bytesPerSecond))
  const wav = await makeTone(join(rig.dir, 'long.wav'), { seconds, rate: 48_000, channels: 2 })
  const legIds: string[] = []
  for (let i = 0; i < count; i++) {
    const dialogId = `dlg-${i}`
    rig.sim.legs.push({ id: `rec-${i}`, dialogId, agentExtension: '1001', ani: '+41', start: iso(T0), end: iso(T0 + seconds * 1000), endReason: 'HANGUP', wavPath: wav })
    legIds.push(`${dialogId}:1001:+41:${T0}`)
  }
  return legIds
}

/** A client that sends its request, then never reads a byte of the answer. */
function stalledClient(t: Teardownable, port: number, legId: string): Socket {
  const socket = connect(port, '127.0.0.1')
  socket.pause()
  socket.on('error', () => {})
  socket.write(`GET /recordings/${legId} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
  t.teardown(() => socket.destroy())
  return socket
}

/** Waits until the gateway is fetching the audio (not only the header) of each of these recordings. */
async function streaming(rig: Rig, count: number): Promise<void> {
  const deadline = Date.now() + 30_000
  while (audioRequests(rig.sim).filter((r) => r.range !== undefined && !r.range.startsWith('bytes=0-')).length < count) {
    if (Date.now() > deadline) throw new Error('the stalled clients never got their audio started')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * A gateway with `env`, `stalled` listeners that stopped reading once their audio flowed, and one more
 * recording nobody asked for yet (the last of `legIds`).
 */
async function withStalledListeners(
  t: Teardownable,
  env: Record<string, string>,
  stalled: number
): Promise<{ rig: Rig; base: string; legIds: string[]; sockets: Socket[] }> {
  const rig = await startRig(t, { env })
  const legIds = await bigRecordings(rig, stalled + 1)
  const { base, port } = await origin(rig.app)
  const sockets = legIds.slice(0, stalled).map((legId) => stalledClient(t, port, legId))
  await streaming(rig, stalled)
  return { rig, base, legIds, sockets }
}

t.test('MAX_CONCURRENT_STREAMS stalled listeners: the next client gets 503 + Retry-After at once, liveness still answers', async (t) => {
  const { rig, base, legIds, sockets } = await withStalledListeners(t, { MAX_CONCURRENT_STREAMS: '3', SEND_TIMEOUT_MS: '0' }, 3)

  const before = rig.sim.requests.length
  const res = await request(`${base}/recordings/${legIds[3]}`, { headersTimeout: 20_000 })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  const body = (await res.body.json()) as ErrorBody
  t.match(body, { statusCode: 503, code: 'GW_ERR_TOO_MANY_STREAMS', error: 'Service Unavailable' })
  t.match(body.message, /3 recordings \(MAX_CONCURRENT_STREAMS\) are being served already/)
  t.equal(rig.sim.requests.length, before, 'Eleveo not asked for the refused stream')

  const live = await request(`${base}/health/live`, { headersTimeout: 20_000 })
  t.equal(live.statusCode, 200)
  await live.body.dump()
  for (const s of sockets) s.destroy()
})

t.test('every Eleveo connection pinned by stalled listeners: a fresh client gets 503 after ELEVEO_TIMEOUT_MS, not silence', async (t) => {
  const { rig, base, legIds, sockets } = await withStalledListeners(t, { ELEVEO_CONNECTIONS: '2', ELEVEO_TIMEOUT_MS: '1000', SEND_TIMEOUT_MS: '0' }, 2)

  const res = await request(`${base}/recordings/${legIds[2]}`, { headersTimeout: 20_000 })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  const body = (await res.body.json()) as ErrorBody
  t.match(body, { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE' })
  t.match(body.message, /all 2 connections \(ELEVEO_CONNECTIONS\) stayed busy for 1000 ms/)
  t.notOk(audioRequests(rig.sim).some((r) => r.url.includes('rec-2')), 'the waiting request was never sent')
  for (const s of sockets) s.destroy()
})

t.test('SEND_TIMEOUT_MS cuts listeners who stopped reading, with their upstream requests; a fresh client is then served whole', async (t) => {
  const { rig, base, legIds } = await withStalledListeners(t, { ELEVEO_CONNECTIONS: '2', MAX_CONCURRENT_STREAMS: '2', SEND_TIMEOUT_MS: '500' }, 2)

  const deadline = Date.now() + 30_000
  const dataRequests = (): ReturnType<typeof audioRequests> =>
    audioRequests(rig.sim).filter((r) => r.range !== undefined && !r.range.startsWith('bytes=0-'))
  while (!dataRequests().every((r) => r.aborted)) {
    if (Date.now() > deadline) throw new Error('the stalled responses were never cut')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(dataRequests().length, 2, 'both upstream audio requests were aborted')

  const res = await request(`${base}/recordings/${legIds[2]}`, { headersTimeout: 20_000 })
  t.equal(res.statusCode, 200, 'the stream slots and connections are free again')
  const length = Number(res.headers['content-length'])
  let received = 0
  for await (const chunk of res.body) received += (chunk as Buffer).length
  t.equal(received, length, 'a reading client is never cut')
})
