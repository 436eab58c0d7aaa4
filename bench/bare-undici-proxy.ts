import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Writable } from 'node:stream'
import { Pool } from 'undici'
import type { BarePlan } from './bare-proxy.js'

/*
 * In its own module so that the bare proxy's process (bench/child.ts bare), whose memory the memory
 * bench compares, does not load undici.
 */

/**
 * The second baseline (relay bench, WAV row of Eleveo): the same plan, each segment fetched with undici's
 * `Pool.stream()` (the HTTP client the gateway uses, not Node's http.get) and written into the response
 * with backpressure. It tells how much of a difference between the gateway and `bareProxy` is the HTTP
 * client rather than the gateway's own work.
 */
export function bareUndiciProxy(plans: Record<string, BarePlan>, upstream: string, authorization: string): Server {
  const pool = new Pool(upstream, { connections: 256 })
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const plan = plans[req.url ?? '']
    if (plan === undefined) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': plan.contentType, 'content-length': String(plan.size) })
    res.write(Buffer.from(plan.prefix, 'base64'))
    // A client that hangs up stops the upstream transfer.
    const hangUp = new AbortController()
    res.once('close', () => hangUp.abort())
    const into = (): Writable =>
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          if (res.write(chunk)) done()
          else res.once('drain', () => done())
        }
      })
    try {
      for (const s of plan.segments) {
        await pool.stream({ method: 'GET', path: s.path, headers: { authorization, range: `bytes=${s.start}-${s.end}` }, signal: hangUp.signal }, into)
      }
    } catch {
      return void res.destroy()
    }
    res.end(Buffer.from(plan.suffix, 'base64'))
  }
  return createServer((req, res) => void serve(req, res))
}
