import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { Pool } from 'undici'
import { startEleveoSimulator, type SimEleveoLeg } from '../simulators/eleveo.js'
import { BENCH_PASSWORD, BENCH_USER } from './common.js'

/*
 * The bench's helpers, one per process, so they compete for CPU like separate services would (the
 * gateway itself runs as `node dist/src/server.js`, see common.ts):
 *   sim      <legs.json> <latencyMs>        the Eleveo simulator
 *   pipe     <upstreamUrl> <authorization>   the baseline: an HTTP server piping an undici request through
 * Each sends `{ url }` to the parent over IPC once it listens, and exits when the parent disconnects.
 */


function ready(url: string): void {
  process.send?.({ url })
  process.on('disconnect', () => process.exit(0))
}

async function sim(legsFile: string, latencyMs: string): Promise<void> {
  const legs = JSON.parse(await readFile(legsFile, 'utf8')) as SimEleveoLeg[]
  const s = await startEleveoSimulator({ legs, username: BENCH_USER, password: BENCH_PASSWORD, latencyMs: Number(latencyMs) })
  // The request log would grow by thousands of entries; the bench does not read it.
  setInterval(() => s.requests.splice(0), 1000).unref()
  ready(s.url)
}

async function pipe(upstreamUrl: string, authorization: string): Promise<void> {
  const pool = new Pool(upstreamUrl, { connections: 256 })
  const server = createServer((req, res) => {
    pool
      .request({ method: 'GET', path: req.url ?? '/', headers: { authorization }, signal: undefined })
      .then(({ statusCode, headers, body }) => {
        res.writeHead(statusCode, { 'content-type': 'audio/wav', 'content-length': String(headers['content-length']) })
        body.pipe(res)
        res.on('close', () => body.destroy())
      })
      .catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  ready(`http://127.0.0.1:${address.port}`)
}

const [mode, a = '', b = ''] = process.argv.slice(2)
const run = mode === 'sim' ? sim(a, b) : mode === 'pipe' ? pipe(a, b) : Promise.reject(new Error(`unknown mode ${mode}`))
run.catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
