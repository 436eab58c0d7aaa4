import { createReadStream } from 'node:fs'
import { Agent, createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

/*
 * The baseline every relay figure is divided by: the least a proxy can do to serve a merged leg. It
 * writes the leg's prefix (WAV header, MP3 Info frame) from memory, then fetches each segment's audio
 * from upstream one after another (`http.get` with a Range, one keep-alive agent) and pipes it into the
 * response (pipe = res.write plus backpressure), then the suffix. No routing beyond a table, no
 * validation, look-up, logging or metrics; a reader can check it in a minute. For EFSwitch the segments
 * are files on disk, read with fs.createReadStream the same way (in the gateway's read size).
 */

/**
 * Bytes per file read: the gateway's own (FILE_CHUNK_BYTES in src/providers/efswitch/provider.ts), so the
 * EFSwitch row compares the work around the reads, not two read sizes (Node's default of 64 KiB costs
 * either side about twice the CPU per GB on this machine).
 */
const FILE_CHUNK_BYTES = 256 * 1024

/** What the bare proxy serves at one path: computed once by the bench from the segment files. */
export interface BarePlan {
  contentType: string
  /** Bytes made here before and after the segments' audio (base64). */
  prefix: string
  suffix: string
  /** Bytes of the whole merged leg. */
  size: number
  /** Upstream path (or local file) and inclusive file byte range of each segment's audio, in order. */
  segments: { path: string; file?: boolean; start: number; end: number }[]
}

export function bareProxy(plans: Record<string, BarePlan>, upstream: string, authorization: string): Server {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 })
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const plan = plans[req.url ?? '']
    if (plan === undefined) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': plan.contentType, 'content-length': String(plan.size) })
    res.write(Buffer.from(plan.prefix, 'base64'))
    for (const s of plan.segments) {
      const piped = await new Promise<boolean>((resolve) => {
        if (s.file === true) {
          const body = createReadStream(s.path, { start: s.start, end: s.end, highWaterMark: FILE_CHUNK_BYTES })
          body.pipe(res, { end: false })
          body.once('end', () => resolve(true))
          body.once('error', () => resolve(false))
          return void res.once('close', () => body.destroy())
        }
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
    res.end(Buffer.from(plan.suffix, 'base64'))
  }
  return createServer((req, res) => void serve(req, res))
}
