import { connect, createServer, type Socket } from 'node:net'
import type { Teardownable } from './sox.js'

export interface SilencingRelay {
  /** `databaseUrl` with its host and port replaced by the relay's. */
  readonly url: string
  /** From now on the connections open so far relay nothing (and close nothing); new ones work. */
  silenceExisting(): void
}

/**
 * A TCP relay to a local database whose existing connections can be made to go silent (bytes no longer
 * relayed, nothing closed), as when the database host vanishes behind a failover; new connections
 * are relayed normally.
 */
export async function silencingRelay(t: Teardownable, target: number, databaseUrl: string): Promise<SilencingRelay> {
  const live = new Set<[Socket, Socket]>()
  const all = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    live.add(pair)
    all.add(client).add(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    const drop = (): void => {
      live.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of all) socket.destroy()
        server.close(() => resolve())
      })
  )
  const { port } = server.address() as { port: number }
  return {
    url: databaseUrl.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`),
    silenceExisting() {
      for (const [client, upstream] of live) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
      live.clear()
    }
  }
}
