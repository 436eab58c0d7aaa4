import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { download, startChild, startGateway, type Child } from './common.js'
import { BARE_PATHS, getRig, legId } from './rig.js'

/*
 * Where the time goes: processes started with --cpu-prof (profiles written into os.tmpdir(), never the
 * repository), then the frames with the most self time during the load: the gateway and the bare proxy
 * under the relay load (8 parallel downloads of the merged leg, ROUNDS times), and the gateway answering
 * many small ranged requests (the per-request path behind TTFB). `npm run bench -- profile`;
 * BENCH_PROFILE_KEEP=1 keeps the .cpuprofile files for Chrome DevTools.
 */

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const PARALLEL = 8
const TOP = 25
const RANGED_REQUESTS = Number(process.env.BENCH_RANGED_REQUESTS ?? 2000)

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface CpuProfile {
  /** Microseconds; samples are timed from here by the cumulative timeDeltas. */
  startTime: number
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/**
 * Self time per function (summed over every node of the same frame), in ms, largest first, of the
 * samples of the last `lastMs` of the profile (the load; start-up's module loading left out).
 */
export function selfTimes(profile: CpuProfile, lastMs: number): { frame: string; ms: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const totals = new Map<string, number>()
  const fromUs = profile.timeDeltas.reduce((a, b) => a + b, 0) - lastMs * 1000
  let at = 0
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0
    if (at < fromUs) return
    const f = byId.get(id)?.callFrame
    if (f === undefined) return
    const file = f.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/(dist\/)?/, '')
    const frame = `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`
    totals.set(frame, (totals.get(frame) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  })
  return [...totals].map(([frame, ms]) => ({ frame, ms })).sort((a, b) => b.ms - a.ms)
}

/** Runs `load`, stops the process (which writes its profile) and prints its busiest frames during the load. */
async function profileUnderLoad(what: string, proc: Child, dir: string, load: () => Promise<number>): Promise<void> {
  const t0 = performance.now()
  let bytes = 0
  try {
    bytes = await load()
  } finally {
    await proc.stop()
  }
  const loadMs = performance.now() - t0
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`)
  const frames = selfTimes(JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile, loadMs)
  // Idle is waiting for the network or for a core; the rest is this process's work.
  const busy = frames.filter((f) => f.frame !== '(idle) ')
  const busyMs = busy.reduce((s, f) => s + f.ms, 0)
  console.log(`${what}: ${busyMs.toFixed(0)} ms busy of ${loadMs.toFixed(0)} ms, ${(busyMs / 1000 / (bytes / 1024 ** 3)).toFixed(2)} s per GB relayed; top self time (% of busy):`)
  for (const f of busy.slice(0, TOP)) console.log(`  ${((100 * f.ms) / busyMs).toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.frame}`)
  if (process.env.BENCH_PROFILE_KEEP === '1') console.log(`profile kept: ${join(dir, file)}`)
  else await rm(dir, { recursive: true, force: true })
}

/** ROUNDS x PARALLEL downloads of the whole leg at `url`; returns the bytes received. */
async function relayLoad(url: string): Promise<number> {
  const agent = new Agent({ connections: PARALLEL })
  let bytes = 0
  for (let r = 0; r < ROUNDS; r++) {
    const sizes = await Promise.all(Array.from({ length: PARALLEL }, () => download(url, agent)))
    bytes += sizes.reduce((a, b) => a + b, 0)
  }
  await agent.close()
  return bytes
}

/** RANGED_REQUESTS requests for 64 KiB of call 0's leg (warm caches), PARALLEL at a time: the per-request path. */
async function rangedLoad(url: string): Promise<number> {
  const agent = new Agent({ connections: PARALLEL })
  let bytes = 0
  let next = 0
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next++ < RANGED_REQUESTS) {
        const start = 44 + ((next * 7919 * 1024) % (50 * 1024 * 1024))
        const res = await request(url, { dispatcher: agent, headers: { range: `bytes=${start}-${start + 65535}` } })
        if (res.statusCode !== 206) throw new Error(`${url}: HTTP ${res.statusCode}`)
        bytes += (await res.body.arrayBuffer()).byteLength
      }
    })
  )
  await agent.close()
  return bytes
}

export async function runProfileBench(): Promise<void> {
  const rig = await getRig()
  const profiled = async (): Promise<{ gateway: Child; dir: string }> => {
    const dir = await mkdtemp(join(tmpdir(), 'cxgw-profile-'))
    const gateway = await startGateway(rig.gatewayEnv(join(dir, 'state')), { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] })
    return { gateway, dir }
  }
  const relayUrl = (c: Child): string => `${c.url}/recordings/${legId(0)}`

  // BENCH_PROFILE=relay or =ranged: only that load.
  const only = process.env.BENCH_PROFILE
  if (only !== 'ranged') {
    const g1 = await profiled()
    await profileUnderLoad(`gateway, ${ROUNDS} x ${PARALLEL} downloads of the merged leg`, g1.gateway, g1.dir, () => relayLoad(relayUrl(g1.gateway)))
    const bareDir = await mkdtemp(join(tmpdir(), 'cxgw-profile-'))
    const bare = await startChild('bare', rig.bareArgs, ['--cpu-prof', '--cpu-prof-dir', bareDir])
    await profileUnderLoad('bare proxy, the same load', bare, bareDir, () => relayLoad(`${bare.url}${BARE_PATHS.wav}`))
  }
  if (only === 'relay') return
  const g2 = await profiled()
  await profileUnderLoad(`gateway, ${RANGED_REQUESTS} ranged requests (64 KiB, warm), ${PARALLEL} at a time`, g2.gateway, g2.dir, () => rangedLoad(relayUrl(g2.gateway)))
}
