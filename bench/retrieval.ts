import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { makeTone, soxConcat } from '../test/helpers/sox.js'
import type { SimEleveoLeg } from '../simulators/eleveo.js'
import { BENCH_AUTH, BENCH_PASSWORD, BENCH_USER, buildService, median, mb, report, rssOf, startChild, startGateway, type Child } from './common.js'

/*
 * Retrieval: a client fetching a HOLD-split leg (three 20-minute segments = one 60-minute WAV) through
 * the gateway, compared with fetching from Eleveo directly. Everything runs on loopback against the
 * Eleveo simulator; the simulator, the gateway and the baseline pipe each run in their own process.
 */

const SEGMENT_SECONDS = 20 * 60
const CALLS = 100
const TTFB_RUNS = 25
const THROUGHPUT_RUNS = 5
/** Modelled Eleveo answer time for the TTFB figure: a real recorder looks files up before answering. */
const ELEVEO_LATENCY_MS = 10

const agent = new Agent({ connections: 512 })
const T0 = Date.parse('2026-03-02T10:00:00Z')

function callLegs(n: number, paths: readonly string[]): SimEleveoLeg[] {
  return paths.map((wavPath, i) => ({
    id: `bench-d${n}-${i}`,
    dialogId: `bench-d${n}`,
    agentExtension: '1001',
    ani: '5550100',
    start: new Date(T0 + i * (SEGMENT_SECONDS + 30) * 1000).toISOString(),
    end: new Date(T0 + (i * (SEGMENT_SECONDS + 30) + SEGMENT_SECONDS) * 1000).toISOString(),
    endReason: i < paths.length - 1 ? 'HOLD' : 'HANGUP',
    wavPath
  }))
}

function gatewayEnv(eleveoUrl: string, stateDir: string): Record<string, string> {
  return {
    RECORDING_VENDOR: 'eleveo',
    ELEVEO_BASE_URL: eleveoUrl,
    ELEVEO_USERNAME: BENCH_USER,
    ELEVEO_PASSWORD: BENCH_PASSWORD,
    STATE_DIR: stateDir,
    // Every bench client comes from 127.0.0.1; the per-client rate limit would measure itself, not retrieval.
    RATE_LIMIT_MAX: '1000000'
  }
}

const legId = (n: number): string => `bench-d${n}:1001:5550100:${T0}`

interface FirstBytes {
  /** Until the first body byte (for the gateway: the rewritten RIFF header). */
  first: number
  /** Until the first byte after the 44-byte header: audio that came from Eleveo. */
  audio: number
}

/** Times a request to its first body bytes, then hangs up. */
async function firstBytes(url: string, headers: Record<string, string> = {}): Promise<FirstBytes> {
  const t0 = performance.now()
  const res = await request(url, { headers, dispatcher: agent })
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`)
  let got = 0
  let first = NaN
  for await (const chunk of res.body) {
    if (Number.isNaN(first)) first = performance.now() - t0
    got += (chunk as Buffer).length
    if (got > 44) break
  }
  return { first, audio: performance.now() - t0 }
}

/** Downloads the whole body; returns bytes per second. */
async function download(url: string, headers: Record<string, string> = {}): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now()
  const res = await request(url, { headers, dispatcher: agent })
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`)
  let bytes = 0
  for await (const chunk of res.body) bytes += (chunk as Buffer).length
  const promised = Number(res.headers['content-length'])
  if (bytes !== promised) throw new Error(`${url}: ${bytes} of ${promised} bytes`)
  return { bytes, ms: performance.now() - t0 }
}

async function ttfbFigures(gateway: Child, sim: Child, label: string, target: boolean): Promise<void> {
  const direct: FirstBytes[] = []
  const warm: FirstBytes[] = []
  const cold: FirstBytes[] = []
  await firstBytes(`${gateway.url}/recordings/${legId(0)}`) // warms the caches for call 0
  for (let i = 0; i < TTFB_RUNS; i++) {
    direct.push(await firstBytes(`${sim.url}/api/recordings/bench-d0-0/audio`, { authorization: BENCH_AUTH }))
    warm.push(await firstBytes(`${gateway.url}/recordings/${legId(0)}`))
    // A call not looked up before: legs and segment layouts must be fetched first.
    cold.push(await firstBytes(`${gateway.url}/recordings/${legId(1 + (i % (CALLS - 1)))}`))
  }
  const d = median(direct.map((x) => x.first))
  const w = median(warm.map((x) => x.first))
  const wa = median(warm.map((x) => x.audio))
  const c = median(cold.map((x) => x.first))
  console.log(`  ${label}: direct TTFB ${d.toFixed(2)} ms, gateway warm ${w.toFixed(2)} ms (first audio ${wa.toFixed(2)} ms), cold ${c.toFixed(2)} ms`)
  report(`(a) TTFB merged / direct, caches warm${target ? '' : ' (info)'}`, (w / d).toFixed(2), '<= 1.3', target ? w / d <= 1.3 : null)
  // The gateway's first byte is the rewritten header, from memory: the audio's first byte is the stricter figure.
  report(`    first audio byte merged / direct, caches warm${target ? '' : ' (info)'}`, (wa / d).toFixed(2), '<= 1.3', target ? wa / d <= 1.3 : null)
  report('    TTFB merged / direct, first request of a call (info)', (c / d).toFixed(2), '<= 1.3', null)
}

async function throughputFigures(gateway: Child, pipe: Child, sim: Child): Promise<void> {
  const merged: number[] = []
  const piped: number[] = []
  const direct: number[] = []
  let bytes = 0
  await download(`${gateway.url}/recordings/${legId(0)}`)
  for (let i = 0; i < THROUGHPUT_RUNS; i++) {
    const m = await download(`${gateway.url}/recordings/${legId(0)}`)
    const p = await download(`${pipe.url}/api/recordings/bench-ref/audio`)
    const d = await download(`${sim.url}/api/recordings/bench-ref/audio`, { authorization: BENCH_AUTH })
    bytes = m.bytes
    merged.push(m.bytes / m.ms)
    piped.push(p.bytes / p.ms)
    direct.push(d.bytes / d.ms)
  }
  const rate = (bPerMs: number): string => `${((bPerMs * 1000) / 1024 / 1024).toFixed(0)} MB/s`
  console.log(
    `  ${mb(bytes)} per download: merged ${rate(median(merged))}, plain undici pipe ${rate(median(piped))}, direct from simulator ${rate(median(direct))}`
  )
  const ratio = median(merged) / median(piped)
  report('(b) throughput merged / plain undici pipe', ratio.toFixed(2), '>= 0.8', ratio >= 0.8)
}

async function memoryFigures(sim: Child, stateDir: string): Promise<void> {
  const gateway = await startGateway(gatewayEnv(sim.url, stateDir))
  try {
    await download(`${gateway.url}/recordings/${legId(0)}`)
    const idle = await rssOf(gateway.pid)
    let sampledMax = idle.rss
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        sampledMax = Math.max(sampledMax, (await rssOf(gateway.pid)).rss)
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    const t0 = performance.now()
    const results = await Promise.all(Array.from({ length: CALLS }, (_, n) => download(`${gateway.url}/recordings/${legId(n)}`)))
    const seconds = (performance.now() - t0) / 1000
    sampling = false
    await sampler
    const after = await rssOf(gateway.pid)
    const total = results.reduce((s, r) => s + r.bytes, 0)
    console.log(
      `  ${CALLS} clients x ${mb(results[0]?.bytes ?? 0)} (60 min) at once: ${mb(total)} in ${seconds.toFixed(1)} s; gateway RSS idle ${mb(idle.rss)}, highest sampled ${mb(sampledMax)}`
    )
    report('(c) peak RSS of the gateway (VmHWM), 100 x 60-min streams', mb(after.peak), '< 200 MB', after.peak < 200 * 1024 * 1024)
  } finally {
    await gateway.stop()
  }
}

export async function runRetrievalBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cxgw-bench-'))
  const children: Child[] = []
  try {
    console.log('retrieval: compiling the service (npm run build) to measure it as production runs it')
    await buildService()
    console.log(`retrieval: generating 3 x ${SEGMENT_SECONDS / 60}-minute segments (PCM 16-bit 8 kHz mono) with sox in ${dir}`)
    const paths = await Promise.all([0, 1, 2].map((i) => makeTone(join(dir, `seg${i}.wav`), { seconds: SEGMENT_SECONDS, freq: 300 + 200 * i })))
    const ref = await soxConcat(paths, join(dir, 'ref.wav'))
    const legs = Array.from({ length: CALLS }, (_, n) => callLegs(n, paths)).flat()
    legs.push({ id: 'bench-ref', dialogId: 'bench-ref', agentExtension: '1', ani: '1', start: new Date(T0).toISOString(), end: null, wavPath: ref })
    const legsFile = join(dir, 'legs.json')
    await writeFile(legsFile, JSON.stringify(legs))

    const track = (c: Child): Child => {
      children.push(c)
      return c
    }
    const start = async (mode: 'sim' | 'pipe', args: string[]): Promise<Child> => track(await startChild(mode, args))
    const simLatent = await start('sim', [legsFile, String(ELEVEO_LATENCY_MS)])
    const sim = await start('sim', [legsFile, '0'])
    const gatewayLatent = track(await startGateway(gatewayEnv(simLatent.url, join(dir, 'state-a'))))
    const gateway = track(await startGateway(gatewayEnv(sim.url, join(dir, 'state-b'))))
    const pipe = await start('pipe', [sim.url, BENCH_AUTH])

    console.log(`retrieval: 3-segment merged leg vs one segment from the simulator (median of ${TTFB_RUNS})`)
    await ttfbFigures(gatewayLatent, simLatent, `Eleveo answering in ${ELEVEO_LATENCY_MS} ms`, true)
    await ttfbFigures(gateway, sim, 'Eleveo answering at once (loopback only)', false)
    console.log(`retrieval: streaming a 60-minute merged leg (median of ${THROUGHPUT_RUNS})`)
    await throughputFigures(gateway, pipe, sim)
    console.log('retrieval: memory under load')
    await memoryFigures(sim, join(dir, 'state-c'))
  } finally {
    await Promise.all(children.map((c) => c.stop()))
    await agent.close()
    await rm(dir, { recursive: true, force: true })
  }
}
