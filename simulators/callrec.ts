import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline, Readable } from 'node:stream'

/*
 * CallREC's servlets as the GUIDE describes them, for tests, the bench and the demo (all GET, XML in 200s):
 *   /callrec/loginservlet?loginname=&password=                    → <ok sessionid="…"/> | <error …/>
 *   /callrec/downloadtoken;jsessionid=S?sid=&type=1&action=download → <reply>TOKEN</reply> | <error …/>
 *   /callrec/sendcallfile.mp3;jsessionid=S?token=T                 → audio/mpeg with Content-Length
 * Sessions expire after `sessionTtlMs` or on expireSessions(), answered in the form versions differ in
 * (an <error> reply, a 401, or a 302 to the login page); tokens are good for `tokenUses` downloads; Range
 * is honoured (206) or ignored (200); faults: bad login, <error> for every token, truncated audio.
 */

export type ExpiryForm = 'error' | '401' | '302'
export type CallrecFault = 'bad-login' | 'token-error' | 'truncated'

export interface CallrecSimulatorOptions {
  username?: string
  password?: string
  /** Audio (any bytes; MP3 in real life) by couple sid. Mutable through `audio`. */
  audio?: Record<string, Buffer>
  /** Default: sessions never expire by themselves. */
  sessionTtlMs?: number
  /** Default 'error'. */
  expiryForm?: ExpiryForm
  /** Downloads a token allows. Default 1. */
  tokenUses?: number
  /** Default true. */
  honourRange?: boolean
  /** Delay before a login answers, so concurrent requests meet one login in flight. Default 0. */
  loginDelayMs?: number
}

export interface CallrecRequest {
  servlet: 'loginservlet' | 'downloadtoken' | 'sendcallfile.mp3' | 'other'
  session?: string
  sid?: string
  token?: string
  range?: string
  status: number
  /** Audio bytes written (sendcallfile only). */
  bytesSent: number
  /** True once the client closed the connection before the answer was complete. */
  aborted: boolean
}

export interface CallrecSimulator {
  url: string
  audio: Map<string, Buffer>
  requests: CallrecRequest[]
  /** Logins answered with a session. */
  readonly logins: number
  /** Every session issued so far ends now. */
  expireSessions(): void
  /** Every session ends right after the next download token is issued (expiry between token and audio). */
  expireSessionsAfterNextToken(): void
  setExpiryForm(form: ExpiryForm): void
  setHonourRange(honour: boolean): void
  setFault(fault: CallrecFault | null): void
  close(): Promise<void>
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

export async function startCallrecSimulator(opts: CallrecSimulatorOptions = {}): Promise<CallrecSimulator> {
  const username = opts.username ?? 'callrec'
  const password = opts.password ?? 'callrec-secret'
  const audio = new Map(Object.entries(opts.audio ?? {}))
  const requests: CallrecRequest[] = []
  const sessions = new Map<string, number>() // id → expiry (epoch ms)
  const tokens = new Map<string, { session: string; sid: string; usesLeft: number }>()
  let expiryForm: ExpiryForm = opts.expiryForm ?? 'error'
  let honourRange = opts.honourRange ?? true
  let fault: CallrecFault | null = null
  let logins = 0
  let expireAfterToken = false

  const xml = (res: ServerResponse, body: string): void => {
    res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' }).end(XML_HEAD + body)
  }
  const error = (res: ServerResponse, code: string, message: string): void =>
    xml(res, `<error code="${xmlEscape(code)}" message="${xmlEscape(message)}"/>`)

  /** Answers an unknown or expired session in the configured form. */
  const expired = (res: ServerResponse): void => {
    if (expiryForm === '401') res.writeHead(401, { 'content-type': 'text/html' }).end('<html>Unauthorized</html>')
    else if (expiryForm === '302') res.writeHead(302, { location: '/callrec/login.jsp' }).end()
    else error(res, '-32', 'Session expired or invalid')
  }

  const expireAll = (): void => {
    for (const id of sessions.keys()) sessions.set(id, 0)
  }

  const sessionValid = (id: string | undefined): boolean => {
    const until = id === undefined ? undefined : sessions.get(id)
    return until !== undefined && Date.now() < until
  }

  function handle(req: IncomingMessage, res: ServerResponse, entry: CallrecRequest): void {
    const url = new URL(req.url ?? '/', 'http://callrec')
    const [path, ...params] = url.pathname.split(';')
    const session = params.find((p) => p.startsWith('jsessionid='))?.slice('jsessionid='.length)
    if (session !== undefined) entry.session = decodeURIComponent(session)
    const servlet = path?.replace(/^\/callrec\//, '')

    if (servlet === 'loginservlet') {
      entry.servlet = 'loginservlet'
      if (fault === 'bad-login' || url.searchParams.get('loginname') !== username || url.searchParams.get('password') !== password) {
        return error(res, '-1', `Login failed for user ${url.searchParams.get('loginname') ?? ''}`)
      }
      const id = randomBytes(16).toString('hex').toUpperCase()
      sessions.set(id, Date.now() + (opts.sessionTtlMs ?? Number.MAX_SAFE_INTEGER / 2))
      logins++
      const answer = (): void => xml(res, `<ok sessionid="${id}"/>`)
      if ((opts.loginDelayMs ?? 0) > 0) setTimeout(answer, opts.loginDelayMs)
      else answer()
      return
    }
    if (servlet === 'downloadtoken') {
      entry.servlet = 'downloadtoken'
      const sid = url.searchParams.get('sid') ?? ''
      entry.sid = sid
      if (!sessionValid(entry.session)) return expired(res)
      if (fault === 'token-error') return error(res, '-5', 'Cannot create a download token')
      if (!audio.has(sid) || url.searchParams.get('type') !== '1' || url.searchParams.get('action') !== 'download') {
        return error(res, '-12', `No such couple: ${sid}`)
      }
      const token = randomBytes(12).toString('hex')
      tokens.set(token, { session: entry.session!, sid, usesLeft: opts.tokenUses ?? 1 })
      if (expireAfterToken) {
        expireAfterToken = false
        expireAll()
      }
      return xml(res, `<reply>${token}</reply>`)
    }
    if (servlet === 'sendcallfile.mp3') {
      entry.servlet = 'sendcallfile.mp3'
      const token = url.searchParams.get('token') ?? ''
      entry.token = token
      if (!sessionValid(entry.session)) return expired(res)
      const grant = tokens.get(token)
      if (grant === undefined || grant.session !== entry.session || grant.usesLeft <= 0) {
        return error(res, '-20', 'Invalid or used download token')
      }
      grant.usesLeft--
      entry.sid = grant.sid
      return sendAudio(req, res, entry, audio.get(grant.sid) ?? Buffer.alloc(0))
    }
    res.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not found</html>')
  }

  function sendAudio(req: IncomingMessage, res: ServerResponse, entry: CallrecRequest, bytes: Buffer): void {
    let start = 0
    let end = bytes.length - 1
    let status = 200
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '')
    if (honourRange && m !== null && bytes.length > 0) {
      if (m[1] === '') {
        start = Math.max(0, bytes.length - Number(m[2]))
      } else {
        start = Number(m[1])
        if (m[2] !== '') end = Math.min(end, Number(m[2]))
      }
      if (start >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end()
        return
      }
      status = 206
    }
    const body = bytes.subarray(start, end + 1)
    const headers: Record<string, string> = { 'content-type': 'audio/mpeg', 'content-length': String(body.length) }
    if (honourRange) headers['accept-ranges'] = 'bytes'
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${bytes.length}`
    res.writeHead(status, headers)
    if (fault === 'truncated') {
      // Promise the whole body, send half, cut the connection.
      const half = body.subarray(0, Math.floor(body.length / 2))
      entry.bytesSent = half.length
      res.write(half, () => res.destroy())
      return
    }
    // Written in chunks with backpressure, as a file would be streamed: a client that stops reading
    // shows up as an aborted answer with fewer bytes sent.
    const chunks = function* (): Generator<Buffer> {
      for (let at = 0; at < body.length; at += 64 * 1024) yield body.subarray(at, at + 64 * 1024)
    }
    const source = Readable.from(chunks())
    source.on('data', (chunk: Buffer) => {
      entry.bytesSent += chunk.length
    })
    pipeline(source, res, () => {})
  }

  const server = createServer((req, res) => {
    const entry: CallrecRequest = { servlet: 'other', status: 200, bytesSent: 0, aborted: false }
    if (typeof req.headers.range === 'string') entry.range = req.headers.range
    requests.push(entry)
    const writeHead = res.writeHead.bind(res)
    res.writeHead = ((code: number, ...rest: never[]) => {
      entry.status = code
      return writeHead(code, ...rest)
    })
    res.once('close', () => {
      if (!res.writableFinished) entry.aborted = true
    })
    if (req.method !== 'GET') {
      res.writeHead(405).end()
      return
    }
    handle(req, res, entry)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    audio,
    requests,
    get logins() {
      return logins
    },
    expireSessions: expireAll,
    expireSessionsAfterNextToken() {
      expireAfterToken = true
    },
    setExpiryForm(form) {
      expiryForm = form
    },
    setHonourRange(honour) {
      honourRange = honour
    },
    setFault(f) {
      fault = f
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
