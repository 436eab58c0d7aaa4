import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Agent } from 'undici'
import { download, median, row, type Measured } from './common.js'
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
}

interface Round {
  bytes: number
  ms: number
  cpuSeconds: number
}

async function round(url: string, proc: Measured): Promise<Round> {
  const cpu0 = await proc.cpuSeconds()
  const t0 = performance.now()
  const sizes = await Promise.all(Array.from({ length: PARALLEL }, () => download(url, agent)))
  const ms = performance.now() - t0
  const cpuSeconds = (await proc.cpuSeconds()) - cpu0
  return { bytes: sizes.reduce((a, b) => a + b, 0), ms, cpuSeconds }
}

const mbps = (r: Round): number => r.bytes / 1024 / 1024 / (r.ms / 1000)
const cpuPerGb = (rounds: readonly Round[]): number =>
  rounds.reduce((s, r) => s + r.cpuSeconds, 0) / (rounds.reduce((s, r) => s + r.bytes, 0) / 1024 ** 3)

export async function relayVariant(v: RelayVariant): Promise<void> {
  // Same bytes from both, or the comparison means nothing.
  const [g, b] = [createHash('sha256'), createHash('sha256')]
  const size = await download(v.gatewayUrl, agent, g)
  await download(v.bareUrl, agent, b)
  if (g.digest('hex') !== b.digest('hex')) throw new Error(`${v.label}: the gateway and the bare proxy sent different bytes`)

  const gw: Round[] = []
  const bare: Round[] = []
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate which goes first, so neither always runs right after the other's GC or socket churn.
    if (i % 2 === 0) {
      gw.push(await round(v.gatewayUrl, v.gateway))
      bare.push(await round(v.bareUrl, v.bare))
    } else {
      bare.push(await round(v.bareUrl, v.bare))
      gw.push(await round(v.gatewayUrl, v.gateway))
    }
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
}

export async function runRelayBench(): Promise<void> {
  const rig = await getRig()
  const variants: RelayVariant[] = [
    {
      label: `WAV leg, Eleveo (${LATENCY_MS} ms per answer), 3 x 20 min`,
      gateway: rig.gateway,
      gatewayUrl: `${rig.gateway.url}/recordings/${legId(0)}`,
      bare: rig.bare,
      bareUrl: `${rig.bare.url}${BARE_PATHS.wav}`
    },
    {
      label: `MP3 leg (32 kbit/s), Eleveo (${LATENCY_MS} ms per answer), 3 x 20 min`,
      gateway: rig.gateway,
      gatewayUrl: `${rig.gateway.url}/recordings/${legId(0, 'm')}`,
      bare: rig.bare,
      bareUrl: `${rig.bare.url}${BARE_PATHS.mp3}`
    }
  ]
  for (const v of variants) await relayVariant(v)
  const efswitch = await startEfswitchRow(rig.dir)
  try {
    await relayVariant({ label: 'WAV leg, EFSwitch (file on disk), 60 min', ...efswitch })
  } finally {
    await efswitch.close()
  }
}
