import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createSleeper } from './sleeper.js'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'

/*
 * The Eleveo recording API as the GUIDE models it, for tests, the bench and the demo:
 *   GET /api/recordings?dialogId=<id>  → { legs: [...] } (unordered: served in reverse), 404 for an unknown call
 *   GET /api/recordings/<legId>/audio  → audio/wav (audio/mpeg for a .mp3 file) with Content-Length, Accept-Ranges, 206 / 416 for Range
 * Basic auth on everything. Faults can be switched on per call and per endpoint.
 */

export interface SimEleveoLeg {
  id: string
  dialogId: string
  agentExtension: string
  ani: string
  /** ISO 8601. */
  start: string
  end: string | null
  endReason?: string | null
  /** The file served as this leg's audio: a WAV, or an MP3 when its name ends in .mp3. */
  wavPath?: string
}

/**
 * slow: waits `slowMs` before answering (longer than the gateway's timeout);
 * error500: answers 500; truncated: promises a Content-Length and cuts the connection halfway;
 * garbage: answers 200 with bytes that are neither JSON nor a WAV; trickle: sends the answer's headers at
 * once, then one body byte every `trickleMs` (never idle long enough for an idle timeout to fire);
 * huge-size: audio answers name a total size of 99999999999999999999999 bytes in Content-Range.
 */
export type EleveoFault = 'slow' | 'error500' | 'truncated' | 'garbage' | 'trickle' | 'huge-size'

/** What a `huge-size` answer claims the file's total size is (beyond Number.MAX_SAFE_INTEGER). */
export const HUGE_SIZE = '99999999999999999999999'

export interface SimRequest {
  method: string
  url: string
  /** The Range header, if any. */
  range?: string
  /** True once the client closed the connection before the answer was complete. */
  aborted: boolean
}

export interface EleveoSimulator {
  url: string
  /** Mutable: tests add and remove legs while the simulator runs. */
  legs: SimEleveoLeg[]
  /** Every request received, in order. */
  requests: SimRequest[]
  /** The most requests of each endpoint that were open at the same time (a request ends when its connection's answer closes). */
  readonly peakInFlight: Readonly<Record<Target, number>>
  /**
   * Switches a fault on (or all faults off with null). Without dialogId it applies to every call; without
   * target to both endpoints. A dialog-specific fault wins over a global one.
   */
  setFault(fault: EleveoFault | null, opts?: { dialogId?: string; target?: 'metadata' | 'audio' }): void
  close(): Promise<void>
}

export interface EleveoSimulatorOptions {
  legs?: SimEleveoLeg[]
  /** Default 'eleveo'. */
  username?: string
  /** Default 'eleveo-secret'. */
  password?: string
  /** Added before every answer, to model network and server latency. Default 0. */
  latencyMs?: number
  /** How long the slow fault waits. Default 30 s. */
  slowMs?: number
  /** Between two bytes of a trickle answer. Default 1.5 s. */
  trickleMs?: number
  /** Where to listen. Default: 127.0.0.1, any free port (tests); the compose trial binds 0.0.0.0 on a fixed port. */
  listen?: { host: string; port: number }
}

type Target = 'metadata' | 'audio'
const ANY = '*'

const GARBAGE = Buffer.from('<html><body><h1>Service temporarily unavailable</h1> … not what you asked for</body></html>\n')

export async function startEleveoSimulator(opts: EleveoSimulatorOptions = {}): Promise<EleveoSimulator> {
  const username = opts.username ?? 'eleveo'
  const password = opts.password ?? 'eleveo-secret'
  const expectedAuth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  const latencyMs = opts.latencyMs ?? 0
  const slowMs = opts.slowMs ?? 30_000
  const trickleMs = opts.trickleMs ?? 1500
  const inFlight: Record<Target, number> = { metadata: 0, audio: 0 }
  const peakInFlight: Record<Target, number> = { metadata: 0, audio: 0 }
  const legs: SimEleveoLeg[] = opts.legs ? [...opts.legs] : []
  const requests: SimRequest[] = []
  // key: `${dialogId or *}|${target}`
  const faults = new Map<string, EleveoFault>()
  const { sleep, cancelAll } = createSleeper()

  const app = Fastify({ logger: false, forceCloseConnections: true, routerOptions: { maxParamLength: 1024 } })

  function faultFor(dialogId: string, target: Target): EleveoFault | undefined {
    return faults.get(`${dialogId}|${target}`) ?? faults.get(`${ANY}|${target}`)
  }

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const entry: SimRequest = { method: request.method, url: request.url, aborted: false }
    if (typeof request.headers.range === 'string') entry.range = request.headers.range
    requests.push(entry)
    const target: Target = request.url.includes('/audio') ? 'audio' : 'metadata'
    inFlight[target]++
    peakInFlight[target] = Math.max(peakInFlight[target], inFlight[target])
    reply.raw.once('close', () => {
      inFlight[target]--
      if (!reply.raw.writableFinished) entry.aborted = true
    })
    if (request.headers.authorization !== expectedAuth) {
      return reply.code(401).header('www-authenticate', 'Basic realm="eleveo"').send({ message: 'Unauthorized' })
    }
    await sleep(latencyMs, reply.raw)
  })

  app.get<{ Querystring: { dialogId?: string } }>('/api/recordings', async (request, reply) => {
    const dialogId = request.query.dialogId
    if (typeof dialogId !== 'string' || dialogId === '') {
      return reply.code(400).send({ message: 'dialogId is required' })
    }
    const fault = faultFor(dialogId, 'metadata')
    if (fault === 'slow') await sleep(slowMs, reply.raw)
    if (reply.raw.destroyed) return reply
    if (fault === 'error500') return reply.code(500).send({ message: 'Internal error' })
    if (fault === 'garbage') return reply.code(200).type('application/json').send(GARBAGE)

    const found = legs.filter((l) => l.dialogId === dialogId)
    if (found.length === 0) return reply.code(404).send({ message: `No recordings for dialog ${dialogId}` })
    // Unordered, as the contract warns: newest first.
    const body = Buffer.from(
      JSON.stringify({
        legs: [...found].reverse().map((l) => ({
          id: l.id,
          dialogId: l.dialogId,
          agentExtension: l.agentExtension,
          ani: l.ani,
          start: l.start,
          end: l.end,
          endReason: l.endReason ?? null
        }))
      })
    )
    if (fault === 'truncated') return truncate(reply, 200, 'application/json', body)
    if (fault === 'trickle') return trickle(reply, 200, 'application/json', body, trickleMs)
    return reply.code(200).type('application/json').send(body)
  })

  app.get<{ Params: { id: string } }>('/api/recordings/:id/audio', async (request, reply) => {
    const leg = legs.find((l) => l.id === request.params.id)
    if (leg === undefined || leg.wavPath === undefined) {
      return reply.code(404).send({ message: `No audio for recording ${request.params.id}` })
    }
    const fault = faultFor(leg.dialogId, 'audio')
    if (fault === 'slow') await sleep(slowMs, reply.raw)
    if (reply.raw.destroyed) return reply
    if (fault === 'error500') return reply.code(500).send({ message: 'Internal error' })

    const size = fault === 'garbage' ? GARBAGE.length : (await stat(leg.wavPath)).size
    const type = leg.wavPath.endsWith('.mp3') ? 'audio/mpeg' : 'audio/wav'
    const range = singleRange(request.headers.range, size)
    void reply.header('accept-ranges', 'bytes')
    if (range === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${size}`).send()
    }
    const start = range?.start ?? 0
    const end = range?.end ?? size - 1
    const status = range === null ? 200 : 206
    if (range !== null) void reply.header('content-range', `bytes ${start}-${end}/${fault === 'huge-size' ? HUGE_SIZE : size}`)
    if (fault === 'garbage') {
      return reply.code(status).type(type).send(GARBAGE.subarray(start, end + 1))
    }
    if (fault === 'truncated') {
      const bytes = await readSlice(leg.wavPath, start, end)
      return truncate(reply, status, type, bytes)
    }
    if (fault === 'trickle') return trickle(reply, status, 'audio/wav', await readSlice(leg.wavPath, start, end), trickleMs)
    return reply
      .code(status)
      .type(type)
      .header('content-length', String(end - start + 1))
      .send(end >= start ? createReadStream(leg.wavPath, { start, end }) : Buffer.alloc(0))
  })

  await app.listen(opts.listen ?? { host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('simulator has no TCP address')

  return {
    url: `http://127.0.0.1:${address.port}`,
    legs,
    requests,
    peakInFlight,
    setFault(fault, where = {}) {
      const dialog = where.dialogId ?? ANY
      const targets: Target[] = where.target ? [where.target] : ['metadata', 'audio']
      if (fault === null && where.dialogId === undefined && where.target === undefined) {
        faults.clear()
        return
      }
      for (const target of targets) {
        if (fault === null) faults.delete(`${dialog}|${target}`)
        else faults.set(`${dialog}|${target}`, fault)
      }
    },
    async close() {
      cancelAll()
      await app.close()
    }
  }
}

/** Sends the status and headers promising `body.length` bytes, then half the body, then cuts the connection. */
function truncate(reply: FastifyReply, status: number, type: string, body: Buffer): FastifyReply {
  const res = reply.hijack().raw
  const headers: Record<string, string> = { 'content-type': type, 'content-length': String(body.length) }
  const cr = reply.getHeader('content-range')
  if (typeof cr === 'string') headers['content-range'] = cr
  headers['accept-ranges'] = 'bytes'
  res.writeHead(status, headers)
  res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
    // Give the half a moment to leave the socket buffer, then cut.
    setTimeout(() => res.socket?.destroy(), 20)
  })
  return reply
}

/** Sends the status and headers at once, then the body one byte every `everyMs`, until done or the client leaves. */
function trickle(reply: FastifyReply, status: number, type: string, body: Buffer, everyMs: number): FastifyReply {
  const res = reply.hijack().raw
  const headers: Record<string, string> = { 'content-type': type, 'content-length': String(body.length) }
  const cr = reply.getHeader('content-range')
  if (typeof cr === 'string') headers['content-range'] = cr
  res.writeHead(status, headers)
  let sent = 0
  const timer = setInterval(() => {
    if (res.destroyed || sent >= body.length) {
      clearInterval(timer)
      if (!res.destroyed) res.end()
      return
    }
    res.write(body.subarray(sent, sent + 1))
    sent++
  }, everyMs)
  res.once('close', () => clearInterval(timer))
  return reply
}

async function readSlice(path: string, start: number, end: number): Promise<Buffer> {
  if (end < start) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  for await (const chunk of createReadStream(path, { start, end })) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** One `bytes=` range (what the gateway sends); null to serve the whole file. */
function singleRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null || (m[1] === '' && m[2] === '')) return null
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (m[2] !== '' && Number(m[2]) < start) return null
  if (start >= size) return 'unsatisfiable'
  return { start, end }
}
