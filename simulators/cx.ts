import { randomBytes } from 'node:crypto'
import { createSleeper } from './sleeper.js'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'

/*
 * Expertflow CX as the GUIDE models it, for tests, the bench and the demo:
 *   POST {origin}/realms/expertflow/protocol/openid-connect/token   Keycloak password grant (form-encoded)
 *   GET  {url}/voice-activities?startTime&endTime&page&pageSize       paged, page numbers from 0
 *   POST {url}/activities                                             CIM message intake
 * where url = {origin}/conversation-manager. Tokens expire; the intake validates the message shape,
 * records what it accepted, and fails on demand.
 */

export interface SimVoiceActivity {
  conversationId: string | null
  channelSessionId: string | null
  dialogId: string
  agentExtension: string
  ani: string
  /** ISO 8601. The window filter is startTime <= legStartTime < endTime. */
  legStartTime: string
  legEndTime: string | null
}

export interface ReceivedMessage {
  /** The message id. */
  id: string
  mediaUrl: string
  /** The legId decoded from mediaUrl's last path segment. */
  legId: string
  message: Record<string, unknown>
}

export interface CxSimRequest {
  method: string
  /** Path and query; the body of a token request is never kept. */
  url: string
  status?: number
}

export interface CxSimulatorOptions {
  activities?: SimVoiceActivity[]
  clientId?: string
  clientSecret?: string
  username?: string
  password?: string
  /** A static bearer accepted besides issued tokens (CX_API_TOKEN). */
  apiToken?: string
  /** Lifetime of issued tokens. Default 300 s. */
  expiresInS?: number
  /** Added before every answer of the CX API (not the token endpoint). Default 0. */
  latencyMs?: number
  /** Largest page served whatever pageSize asks. Default 1000. */
  maxPageSize?: number
  /**
   * A broken pager: 'ignore-page' serves page 0 whatever ?page= asks (and no total); 'endless' serves
   * full pages of new activities forever (and no total).
   */
  paging?: 'ignore-page' | 'endless'
  /**
   * Called for each message about to be accepted, after it was recorded in `received` and before the
   * answer leaves (a test can kill the client here: "CX has it, the client does not know").
   */
  onAccept?: (msg: ReceivedMessage) => void
  /** Where to listen. Default: 127.0.0.1, any free port (tests); the compose trial binds 0.0.0.0 on a fixed port. */
  listen?: { host: string; port: number }
}

export interface CxSimulator {
  /** CX_BASE_URL. */
  url: string
  /** CX_TOKEN_URL. */
  tokenUrl: string
  /** The voice activities CX knows; mutable (tests add legs between runs). */
  activities: SimVoiceActivity[]
  /** Every message accepted (2xx), in order, duplicates included. */
  received: ReceivedMessage[]
  requests: CxSimRequest[]
  /** Tokens issued by the token endpoint, in order. */
  issued: string[]
  readonly tokensIssued: number
  /**
   * After `after` more requests to `target` (default: activity posts) have passed, the next n answer
   * `status` (default 500).
   */
  failNext(n: number, status?: number, target?: 'activities' | 'voice-activities', after?: number): void
  /** Posts matching the predicate answer `status` (default 400) every time. */
  rejectWhen(pred: ((msg: ReceivedMessage) => boolean) | null, status?: number): void
  /** The next n activity posts get no answer for `ms` (longer than the client's timeout), then 200... or never. */
  stallNext(n: number, ms: number): void
  /** Every token issued so far is expired from now on (401 on its next use). */
  expireTokens(): void
  setLatency(ms: number): void
  /** Messages per id (count > 1 means duplicate). */
  countsById(): Map<string, number>
  close(): Promise<void>
}

export const CX_SIM_REALM_PATH = '/realms/expertflow/protocol/openid-connect/token'

export async function startCxSimulator(opts: CxSimulatorOptions = {}): Promise<CxSimulator> {
  const creds = {
    clientId: opts.clientId ?? 'cim',
    clientSecret: opts.clientSecret ?? 'cim-client-secret',
    username: opts.username ?? 'gateway',
    password: opts.password ?? 'gateway-password'
  }
  const expiresInS = opts.expiresInS ?? 300
  const maxPageSize = opts.maxPageSize ?? 1000
  let latencyMs = opts.latencyMs ?? 0
  const activities: SimVoiceActivity[] = opts.activities ? [...opts.activities] : []
  const received: ReceivedMessage[] = []
  const requests: CxSimRequest[] = []
  const tokens = new Map<string, number>()
  const issued: string[] = []
  const fail = {
    activities: { skip: 0, count: 0, status: 500 },
    'voice-activities': { skip: 0, count: 0, status: 500 }
  }
  let stallCount = 0
  let stallMs = 0
  let reject: { pred: (m: ReceivedMessage) => boolean; status: number } | null = null
  const { sleep, cancelAll } = createSleeper()

  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 1024 * 1024 })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const entry: CxSimRequest = { method: request.method, url: request.url }
    requests.push(entry)
    reply.raw.once('finish', () => {
      entry.status = reply.raw.statusCode
    })
  })

  app.post<{ Body: Record<string, string> }>(CX_SIM_REALM_PATH, async (request, reply) => {
    if (!request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return reply.code(400).send({ error: 'invalid_request', error_description: 'form-encoded body expected' })
    }
    const b = request.body ?? {}
    if (b.grant_type !== 'password') {
      return reply.code(400).send({ error: 'unsupported_grant_type', error_description: 'only password is supported here' })
    }
    if (b.client_id !== creds.clientId || b.client_secret !== creds.clientSecret) {
      return reply.code(401).send({ error: 'invalid_client', error_description: 'Invalid client credentials' })
    }
    if (b.username !== creds.username || b.password !== creds.password) {
      return reply.code(401).send({ error: 'invalid_grant', error_description: 'Invalid user credentials' })
    }
    const token = randomBytes(24).toString('base64url')
    tokens.set(token, Date.now() + expiresInS * 1000)
    issued.push(token)
    return { access_token: token, expires_in: expiresInS, token_type: 'Bearer', scope: 'profile email' }
  })

  /** True when the bearer is good; otherwise the 401 has been sent. */
  function checkBearer(request: FastifyRequest, reply: FastifyReply): boolean {
    const m = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')
    const token = m?.[1]
    if (token !== undefined && opts.apiToken !== undefined && token === opts.apiToken) return true
    const exp = token === undefined ? undefined : tokens.get(token)
    if (exp !== undefined && Date.now() < exp) return true
    void reply
      .code(401)
      .header('www-authenticate', `Bearer error="invalid_token"`)
      .send({ error: 'invalid_token', error_description: exp === undefined ? 'unknown token' : 'token expired' })
    return false
  }

  app.register(
    async (cx) => {
      cx.addHook('preHandler', async (request, reply) => {
        if (!checkBearer(request, reply)) return reply
        await sleep(latencyMs, reply.raw)
      })

      cx.get<{ Querystring: Record<string, string | undefined> }>('/voice-activities', async (request, reply) => {
        const q = request.query
        const start = Date.parse(q.startTime ?? '')
        const end = Date.parse(q.endTime ?? '')
        const page = Number(q.page ?? '0')
        const pageSize = Math.min(Number(q.pageSize ?? '100'), maxPageSize)
        if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isInteger(page) || page < 0 || !(pageSize > 0)) {
          return reply.code(400).send({ message: 'startTime, endTime (ISO), page >= 0 and pageSize > 0 are required' })
        }
        const f = fail['voice-activities']
        if (f.skip > 0) f.skip--
        else if (f.count > 0) {
          f.count--
          return reply.code(f.status).send({ message: `simulated failure ${f.status}` })
        }
        if (opts.paging === 'endless') {
          const items = Array.from({ length: pageSize }, (_, i) => endlessActivity(start, page * pageSize + i))
          return { items, page, pageSize }
        }
        const inWindow = activities
          .filter((a) => {
            const t = Date.parse(a.legStartTime)
            return t >= start && t < end
          })
          .sort((a, b) => Date.parse(a.legStartTime) - Date.parse(b.legStartTime) || a.dialogId.localeCompare(b.dialogId))
        if (opts.paging === 'ignore-page') return { items: inWindow.slice(0, pageSize), page: 0, pageSize }
        return { items: inWindow.slice(page * pageSize, (page + 1) * pageSize), page, pageSize, total: inWindow.length }
      })

      cx.post('/activities', async (request, reply) => {
        const problem = validateMessage(request.body)
        if (problem !== null) return reply.code(400).send({ message: problem })
        const msg = request.body as Record<string, unknown> & { id: string; body: { mediaUrl: string } }
        const mediaUrl = msg.body.mediaUrl
        const rec: ReceivedMessage = { id: msg.id, mediaUrl, legId: legIdOf(mediaUrl), message: msg }
        if (stallCount > 0) {
          stallCount--
          await sleep(stallMs, reply.raw)
          if (reply.raw.destroyed) return reply
        }
        const f = fail.activities
        if (f.skip > 0) f.skip--
        else if (f.count > 0) {
          f.count--
          return reply.code(f.status).send({ message: `simulated failure ${f.status}` })
        }
        if (reject !== null && reject.pred(rec)) {
          // Like many validating APIs, the answer echoes the value it refused.
          return reply
            .code(reject.status)
            .send({ message: `simulated rejection of ${rec.legId}: unknown conversation`, rejectedValue: rec.mediaUrl })
        }
        received.push(rec)
        opts.onAccept?.(rec)
        return reply.code(202).send({ id: msg.id, status: 'accepted' })
      })
    },
    { prefix: '/conversation-manager' }
  )

  await app.listen(opts.listen ?? { host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('simulator has no TCP address')
  const origin = `http://127.0.0.1:${address.port}`

  return {
    url: `${origin}/conversation-manager`,
    tokenUrl: `${origin}${CX_SIM_REALM_PATH}`,
    activities,
    received,
    requests,
    issued,
    get tokensIssued() {
      return issued.length
    },
    failNext(n, status = 500, target = 'activities', after = 0) {
      fail[target] = { skip: after, count: n, status }
    },
    rejectWhen(pred, status = 400) {
      reject = pred === null ? null : { pred, status }
    },
    stallNext(n, ms) {
      stallCount = n
      stallMs = ms
    },
    expireTokens() {
      for (const t of tokens.keys()) tokens.set(t, 0)
    },
    setLatency(ms) {
      latencyMs = ms
    },
    countsById() {
      const m = new Map<string, number>()
      for (const r of received) m.set(r.id, (m.get(r.id) ?? 0) + 1)
      return m
    },
    async close() {
      cancelAll()
      await app.close()
    }
  }
}

/** The n-th activity of an endless listing: a new call every time, all starting in the window. */
function endlessActivity(windowStart: number, n: number): SimVoiceActivity {
  return {
    conversationId: null,
    channelSessionId: `endless-${n}`,
    dialogId: `endless-${n}`,
    agentExtension: '1001',
    ani: '100',
    legStartTime: new Date(windowStart + (n % 1000)).toISOString(),
    legEndTime: null
  }
}

function legIdOf(mediaUrl: string): string {
  try {
    const path = new URL(mediaUrl).pathname
    return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))
  } catch {
    return ''
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
function nonEmpty(v: unknown): v is string {
  return typeof v === 'string' && v !== ''
}

/** What the Third-Party Activities API insists on; null when the message is acceptable. */
export function validateMessage(m: unknown): string | null {
  if (!isObj(m)) return 'the body must be a JSON object'
  if (!nonEmpty(m.id)) return 'id is required'
  if (!isObj(m.header)) return 'header is required'
  const h = m.header
  if (!isObj(h.sender) || !nonEmpty(h.sender.id) || !nonEmpty(h.sender.type)) return 'header.sender with id and type is required'
  if (!nonEmpty(h.channelSessionId) && !nonEmpty(h.conversationId)) return 'header.channelSessionId or header.conversationId is required'
  if (!isObj(m.body)) return 'body is required'
  if (!nonEmpty(m.body.type)) return 'body.type is required'
  if (!nonEmpty(m.body.mediaUrl)) return 'body.mediaUrl is required'
  try {
    new URL(m.body.mediaUrl)
  } catch {
    return 'body.mediaUrl must be an absolute URL'
  }
  return null
}
