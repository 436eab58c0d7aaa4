import { join } from 'node:path'
import { median, row, startBareNodeServer, startGateway, type GatewayStart } from './common.js'
import { getRig } from './rig.js'

/*
 * Start-up: from spawning `node dist/src/server.js` (default configuration: an Eleveo URL and
 * credentials, nothing else; pushing off, no database) to its first 200 on /health/live, polled every
 * 2 ms, beside the same figure for the smallest Node HTTP server (`node -e`): Node's own start-up is
 * part of both. Also the CPU time each process had used by then (its own process.cpuUsage(), asked over
 * IPC right after that 200): wall time on a shared machine depends on the neighbours, CPU time much less.
 * Alternating, median of RUNS.
 */

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7)

interface Startup {
  wallMs: number
  cpuMs: number
}

async function measure(start: () => Promise<GatewayStart>): Promise<Startup> {
  const p = await start()
  const cpuMs = (await p.cpuSeconds()) * 1000
  await p.stop()
  return { wallMs: p.startupMs, cpuMs }
}

export async function runStartupBench(): Promise<void> {
  const rig = await getRig()
  const gateway: Startup[] = []
  const bare: Startup[] = []
  for (let i = 0; i < RUNS; i++) {
    bare.push(await measure(() => startBareNodeServer({ cpuHook: true })))
    gateway.push(await measure(() => startGateway(rig.gatewayEnv(join(rig.dir, `state-startup-${i}`)), { cpuHook: true })))
  }
  const wall = [median(gateway.map((s) => s.wallMs)), median(bare.map((s) => s.wallMs))] as const
  const cpu = [median(gateway.map((s) => s.cpuMs)), median(bare.map((s) => s.cpuMs))] as const
  console.log(`start-up to the first 200 of /health/live, median of ${RUNS} alternating (gateway runs ${gateway.map((x) => x.wallMs.toFixed(0)).join(', ')} ms)`)
  row('start-up, wall (ms)', wall[0].toFixed(0), `node -e server ${wall[1].toFixed(0)}`, wall[0] / wall[1], '<= 300 ms', wall[0] <= 300)
  row('start-up, CPU used by then (ms)', cpu[0].toFixed(0), `node -e server ${cpu[1].toFixed(0)}`, cpu[0] / cpu[1], 'stated', null)
}
