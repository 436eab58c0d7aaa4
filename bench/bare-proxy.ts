import { Agent, createServer, get, type Server, type ServerResponse } from 'node:http'

/*
 * The baseline every relay figure is divided by: the least a proxy can do to serve a merged leg. It
 * writes the leg's header from memory, then fetches each segment's data from upstream one after another
 * (`http.get` with a Range, one keep-alive agent) and pipes it into the response (pipe = res.write plus
 * backpressure). No routing, validation, look-up, logging or metrics; a reader can check it in a minute.
 */

/** What the bare proxy serves: computed once by the bench from the segment files. */
export interface BarePlan {
  /** The merged leg's RIFF header (base64). */
  header: string
  /** Bytes of the whole merged leg. */
  size: number
  /** Upstream path and inclusive file byte range of each segment's audio data, in order. */
  segments: { path: string; start: number; end: number }[]
}

export function bareProxy(plan: BarePlan, upstream: string, authorization: string): Server {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 })
  const header = Buffer.from(plan.header, 'base64')
  // The handler's promise never rejects (every failure destroys the response), so nothing awaits it.
  return createServer((_req, res) => void serve(res))

  async function serve(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(plan.size) })
    res.write(header)
    for (const s of plan.segments) {
      const piped = await new Promise<boolean>((resolve) => {
        const up = get(upstream + s.path, { agent, headers: { authorization, range: `bytes=${s.start}-${s.end}` } }, (body) => {
          body.pipe(res, { end: false })
          body.once('end', () => resolve(true))
          body.once('error', () => resolve(false))
        })
        up.once('error', () => resolve(false))
        // A client that hangs up stops the upstream transfer.
        res.once('close', () => up.destroy())
      })
      if (!piped || res.destroyed) return void res.destroy()
    }
    res.end()
  }
}
