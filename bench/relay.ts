import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Agent } from 'undici'
import { download, median, row, startChild, type Measured } from './common.js'
import { startEfswitchRow } from './efswitch-rig.js'
import { BARE_PATHS, getRig, LATENCY_MS, legId } from './rig.js'

/*
 * Relay: PARALLEL clients each download the whole merged leg at once, through the gateway and through
 * the bare proxy (bare-proxy.ts), in alternating rounds so that a neighbour's load on the machine hits
 * both alike. Throughput is bytes of all clients / wall time of the round; CPU per GB is the measured
 * process's own process.cpuUsage() across its rounds / bytes it relayed.
 */

const PARALLEL = 8
/** BENCH_ROUNDS lowers it for a quick try; the figures in docs/benchmarks.md use the default. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)

const agent = new Agent({ connections: 64 })

/**
 * One row of the relay table: a leg the gateway serves and the same bytes from the bare proxy.
 * The EFSwitch row (efswitch-rig.ts) compares with a bare proxy reading the same file from disk.
 */
export interface RelayVariant {
  label: string
  gateway: Measured
  gatewayUrl: string
  bare: Measured
  bareUrl: string
  /** A second baseline measured in the same rounds: the bare proxy on undici (bare-undici-proxy.ts). */
  undiciBare?: { proc: Measured; url: string }
  /** The simulator behind both, whose CPU is reported beside (is it the bottleneck?). */
  upstream?: Measured
}

interface Round {
  bytes: number
  ms: number
  cpuSeconds: number
  /** CPU seconds the upstream (the simulator) spent in the round, when it is measured. */
  upstreamCpuSeconds: number
}

async function round(url: string, proc: Measured, upstream?: Measured): Promise<Round> {
  const [cpu0, up0] = [await proc.cpuSeconds(), (await upstream?.cpuSeconds()) ?? 0]
  const t0 = performance.now()
  const sizes = await Promise.all(Array.from({ length: PARALLEL }, () => download(url, agent)))
  const ms = performance.now() - t0
  const cpuSeconds = (await proc.cpuSeconds()) - cpu0
  const upstreamCpuSeconds = ((await upstream?.cpuSeconds()) ?? 0) - up0
  return { bytes: sizes.reduce((a, b) => a + b, 0), ms, cpuSeconds, upstreamCpuSeconds }
}

/** Share of one core the upstream was busy during the rounds: near 1 it, not the proxy, sets the pace. */
const upstreamBusy = (rounds: readonly Round[]): number =>
  rounds.reduce((s, r) => s + r.upstreamCpuSeconds, 0) / (rounds.reduce((s, r) => s + r.ms, 0) / 1000)

const mbps = (r: Round): number => r.bytes / 1024 / 1024 / (r.ms / 1000)
const cpuPerGb = (rounds: readonly Round[]): number =>
  rounds.reduce((s, r) => s + r.cpuSeconds, 0) / (rounds.reduce((s, r) => s + r.bytes, 0) / 1024 ** 3)

export async function relayVariant(v: RelayVariant): Promise<void> {
  // Same bytes from both, or the comparison means nothing.
  const [g, b] = [createHash('sha256'), createHash('sha256')]
  const size = await download(v.gatewayUrl, agent, g)
  await download(v.bareUrl, agent, b)
  const digest = g.digest('hex')
  if (digest !== b.digest('hex')) throw new Error(`${v.label}: the gateway and the bare proxy sent different bytes`)
  if (v.undiciBare !== undefined) {
    const u = createHash('sha256')
    await download(v.undiciBare.url, agent, u)
    if (u.digest('hex') !== digest) throw new Error(`${v.label}: the gateway and the undici bare proxy sent different bytes`)
  }

  const gw: Round[] = []
  const bare: Round[] = []
  const undici: Round[] = []
  const turns: (() => Promise<void>)[] = [
    async () => void gw.push(await round(v.gatewayUrl, v.gateway, v.upstream)),
    async () => void bare.push(await round(v.bareUrl, v.bare, v.upstream))
  ]
  const second = v.undiciBare
  if (second !== undefined) turns.push(async () => void undici.push(await round(second.url, second.proc, v.upstream)))
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate the order, so none always runs right after another's GC or socket churn.
    for (const turn of i % 2 === 0 ? turns : [...turns].reverse()) await turn()
  }
  const gm = median(gw.map(mbps))
  const bm = median(bare.map(mbps))
  const pairs = gw.map((r, i) => mbps(r) / mbps(bare[i] as Round))
  console.log(
    `${v.label}: ${PARALLEL} parallel downloads of ${(size / 1024 / 1024).toFixed(1)} MB, ` +
      `median of ${ROUNDS} alternating rounds (round ratios ${Math.min(...pairs).toFixed(2)}-${Math.max(...pairs).toFixed(2)})`
  )
  row('throughput (MB/s)', gm.toFixed(0), `bare proxy ${bm.toFixed(0)}`, gm / bm, '>= 0.9', gm / bm >= 0.9)
  const gc = cpuPerGb(gw)
  const bc = cpuPerGb(bare)
  row('CPU seconds per GB relayed', gc.toFixed(2), `bare proxy ${bc.toFixed(2)}`, gc / bc, 'beside the bare proxy', null)
  if (v.upstream !== undefined) {
    const [ug, ub] = [upstreamBusy(gw), upstreamBusy(bare)]
    row('  simulator busy (share of a core)', ug.toFixed(2), `bare proxy rounds ${ub.toFixed(2)}`, ug / ub, 'below 1: not the bottleneck', ug < 0.9 && ub < 0.9)
  }
  if (undici.length > 0) {
    const um = median(undici.map(mbps))
    row('  the same, vs bare proxy on undici', gm.toFixed(0), `undici proxy ${um.toFixed(0)}`, gm / um, 'second baseline', null)
    const uc = cpuPerGb(undici)
    row('  CPU s/GB, vs bare proxy on undici', gc.toFixed(2), `undici proxy ${uc.toFixed(2)}`, gc / uc, 'second baseline', null)
  }
}

export async function runRelayBench(): Promise<void> {
  const rig = await getRig()
  const undiciBare = await startChild('bare-undici', rig.bareArgs)
  const variants: RelayVariant[] = [
    {
      label: `WAV leg, Eleveo (${LATENCY_MS} ms per answer), 3 x 20 min`,
      gateway: rig.gateway,
      gatewayUrl: `${rig.gateway.url}/recordings/${legId(0)}`,
      bare: rig.bare,
      bareUrl: `${rig.bare.url}${BARE_PATHS.wav}`,
      undiciBare: { proc: undiciBare, url: `${undiciBare.url}${BARE_PATHS.wav}` },
      upstream: rig.sim
    },
    {
      label: `MP3 leg (32 kbit/s), Eleveo (${LATENCY_MS} ms per answer), 3 x 20 min`,
      gateway: rig.gateway,
      gatewayUrl: `${rig.gateway.url}/recordings/${legId(0, 'm')}`,
      bare: rig.bare,
      bareUrl: `${rig.bare.url}${BARE_PATHS.mp3}`,
      upstream: rig.sim
    }
  ]
  try {
    for (const v of variants) await relayVariant(v)
  } finally {
    await undiciBare.stop()
  }
  const efswitch = await startEfswitchRow(rig.dir)
  try {
    await relayVariant({ label: 'WAV leg, EFSwitch (file on disk), 60 min', ...efswitch })
  } finally {
    await efswitch.close()
  }
}
