import { join } from 'node:path'
import { median, row, startBareNodeServer, startGateway } from './common.js'
import { getRig } from './rig.js'

/*
 * Start-up: from spawning `node dist/src/server.js` (default configuration: an Eleveo URL and
 * credentials, nothing else; pushing off, no database) to its first 200 on /health/live, polled every
 * 2 ms, beside the same figure for the smallest Node HTTP server (`node -e`): Node's own start-up is
 * part of both. Alternating, median of RUNS.
 */

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7)

export async function runStartupBench(): Promise<void> {
  const rig = await getRig()
  const gateway: number[] = []
  const bare: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const b = await startBareNodeServer()
    bare.push(b.startupMs)
    await b.stop()
    const g = await startGateway(rig.gatewayEnv(join(rig.dir, `state-startup-${i}`)))
    gateway.push(g.startupMs)
    await g.stop()
  }
  const [gm, bm] = [median(gateway), median(bare)]
  console.log(`start-up to the first 200 of /health/live, median of ${RUNS} alternating (gateway runs ${gateway.map((x) => x.toFixed(0)).join(', ')} ms)`)
  row('start-up (ms)', gm.toFixed(0), `node -e server ${bm.toFixed(0)}`, gm / bm, '<= 300 ms', gm <= 300)
}
