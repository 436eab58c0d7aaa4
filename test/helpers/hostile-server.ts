import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Teardownable } from './sox.js'

/*
 * An upstream that misbehaves on purpose, on a real socket: bodies that never end, bodies that trickle.
 * Each handler gets `sent` to count the bytes it wrote, so a test can tell that the client stopped
 * reading (the connection closed) long before the answer would have ended.
 */

export interface HostileServer {
  readonly url: string
  /** Body bytes written so far, over all answers. */
  readonly sent: number
  /** Answers whose client closed the connection before the body ended. */
  readonly cutOff: number
}

export type HostileHandler = (req: IncomingMessage, res: ServerResponse, write: (chunk: Buffer | string) => boolean) => void

export async function startHostileServer(t: Teardownable, handler: HostileHandler): Promise<HostileServer> {
  const state = { sent: 0, cutOff: 0 }
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableEnded) state.cutOff++
    })
    req.resume()
    handler(req, res, (chunk) => {
      if (res.destroyed) return false
      state.sent += Buffer.byteLength(chunk)
      return res.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const timer of timers) clearInterval(timer)
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get sent() {
      return state.sent
    },
    get cutOff() {
      return state.cutOff
    }
  }
}

/** A chunked 200 whose JSON-looking body never ends: 64 KiB chunks as fast as the client reads. */
export function endlessBody(contentType = 'application/json'): HostileHandler {
  return (_req, res, write) => {
    res.writeHead(200, { 'content-type': contentType })
    write('{"items":[')
    const chunk = Buffer.alloc(64 * 1024, 0x20)
    const pump = (): void => {
      while (!res.destroyed && write(chunk));
      if (!res.destroyed) res.once('drain', pump)
    }
    pump()
  }
}

/** A 200 that sends one byte every `everyMs`, forever: never idle long enough to trip an idle timeout. */
export function tricklingBody(everyMs: number, contentType = 'application/json'): HostileHandler {
  return (_req, res, write) => {
    res.writeHead(200, { 'content-type': contentType })
    write('{')
    const timer = setInterval(() => {
      if (res.destroyed) clearInterval(timer)
      else write(' ')
    }, everyMs)
    res.on('close', () => clearInterval(timer))
  }
}
