import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { startEleveoSimulator, type SimEleveoLeg } from '../simulators/eleveo.js'
import { bareProxy, type BarePlan } from './bare-proxy.js'
import { BENCH_PASSWORD, BENCH_USER } from './common.js'

/*
 * The bench's helpers, one per process, so they compete for CPU like separate services would (the
 * gateway itself runs as `node dist/src/server.js`, see common.ts):
 *   sim   <legs.json> <latencyMs>                     the Eleveo simulator
 *   bare  <plan.json> <upstreamUrl> <authorization>   the baseline proxy (bare-proxy.ts)
 *   bare-undici  (the same arguments)                  the second baseline, on undici (bare-undici-proxy.ts)
 * Each sends `{ url }` to the parent over IPC once it listens, answers `bench:cpu` with its own
 * process.cpuUsage(), and exits when the parent disconnects.
 */

function ready(url: string): void {
  process.on('message', (m) => {
    if (m === 'bench:cpu') process.send?.({ cpu: process.cpuUsage() })
  })
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

async function bare(planFile: string, upstreamUrl: string, authorization: string, make = bareProxy): Promise<void> {
  const plans = JSON.parse(await readFile(planFile, 'utf8')) as Record<string, BarePlan>
  const server = make(plans, upstreamUrl, authorization)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  ready(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
}

const [mode, a = '', b = '', c = ''] = process.argv.slice(2)
const run =
  mode === 'sim'
    ? sim(a, b)
    : mode === 'bare'
      ? bare(a, b, c)
      : mode === 'bare-undici'
        ? import('./bare-undici-proxy.js').then(({ bareUndiciProxy }) => bare(a, b, c, bareUndiciProxy))
        : Promise.reject(new Error(`unknown mode ${mode}`))
run.catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
