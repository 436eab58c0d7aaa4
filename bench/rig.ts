import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeMp3 } from '../test/helpers/mp3-tools.js'
import { makeTone } from '../test/helpers/sox.js'
import type { SimEleveoLeg } from '../simulators/eleveo.js'
import { parseWavLayout } from '../src/audio/wav/riff.js'
import { planVirtualWav } from '../src/audio/wav/virtual-wav.js'
import { planMp3 } from '../src/audio/mp3/merge.js'
import { probeMp3Layout, type Mp3Source } from '../src/audio/mp3/probe.js'
import type { VirtualFile } from '../src/audio/virtual-file.js'
import type { BarePlan } from './bare-proxy.js'
import { BENCH_AUTH, BENCH_PASSWORD, BENCH_USER, buildService, startChild, startGateway, type GatewayStart, type Measured } from './common.js'

/*
 * What the retrieval benches share, set up once per `npm run bench` and in their own processes: three
 * 20-minute segments (PCM 16-bit 8 kHz mono, made by sox into os.tmpdir()), an Eleveo simulator that
 * answers every request after LATENCY_MS, the gateway in front of it, and the bare proxy (the baseline)
 * in front of the same simulator.
 */

export const LATENCY_MS = 10
export const SEGMENT_SECONDS = 20 * 60
/** Calls in the simulator, each a HOLD-split leg of the same three segments; cold look-ups use a new one each time. */
export const CALLS = 400
const T0 = Date.parse('2026-03-02T10:00:00Z')

/** Calls of MP3 segments (`bench-m<n>`): the relay's MP3 row uses call 0. */
const MP3_CALLS = 2
/** The MP3 segments: 32 kbit/s CBR, as call recorders write them (8 kHz mono MPEG-2.5 Layer III). */
const MP3_LAME = ['-b', '32']

export const legId = (n: number, kind: 'd' | 'm' = 'd'): string => `bench-${kind}${n}:1001:5550100:${T0}`
export const segmentId = (n: number, i: number, kind: 'd' | 'm' = 'd'): string => `bench-${kind}${n}-${i}`
/** Where the bare proxy serves call 0's merged leg of each kind. */
export const BARE_PATHS = { wav: '/leg', mp3: '/mp3' } as const

export interface SegmentFile {
  /** Where its audio data starts and how long it is, in the stored file. */
  dataOffset: number
  dataLength: number
}

export interface Rig {
  /** Scratch directory in os.tmpdir(), removed by close(). */
  dir: string
  sim: Measured
  gateway: GatewayStart
  bare: Measured
  /** startChild('bare', bareArgs) starts another bare proxy like `bare`. */
  bareArgs: string[]
  /** The merged leg as the gateway serves it (and the bare proxy too). */
  size: number
  headerLength: number
  segments: SegmentFile[]
  /** Environment for another gateway in front of the same simulator (memory and start-up benches). */
  gatewayEnv(stateDir: string): Record<string, string>
  close(): Promise<void>
}

function callLegs(n: number, paths: readonly string[], kind: 'd' | 'm' = 'd'): SimEleveoLeg[] {
  return paths.map((wavPath, i) => ({
    id: segmentId(n, i, kind),
    dialogId: `bench-${kind}${n}`,
    agentExtension: '1001',
    ani: '5550100',
    start: new Date(T0 + i * (SEGMENT_SECONDS + 30) * 1000).toISOString(),
    end: new Date(T0 + (i * (SEGMENT_SECONDS + 30) + SEGMENT_SECONDS) * 1000).toISOString(),
    endReason: i < paths.length - 1 ? 'HOLD' : 'HANGUP',
    wavPath
  }))
}

/** The bare proxy's plan for call 0 of a kind: the same prefix, segment bytes and suffix as the gateway's. */
function barePlan(v: VirtualFile, contentType: string, kind: 'd' | 'm'): BarePlan {
  return {
    contentType,
    prefix: v.prefix.toString('base64'),
    suffix: v.suffix.toString('base64'),
    size: v.size,
    segments: v.parts.map((p, i) => ({ path: `/api/recordings/${segmentId(0, i, kind)}/audio`, start: p.fileOffset, end: p.fileOffset + p.length - 1 }))
  }
}

/** An MP3 file's layout, read from memory through the probe the gateway uses. */
function mp3Layout(bytes: Buffer): ReturnType<typeof probeMp3Layout> {
  const source: Mp3Source = {
    size: bytes.length,
    head: bytes.subarray(0, 4096),
    readBytes: async (start, end) => bytes.subarray(start, end),
    async *streamBytes(start, end) {
      yield bytes.subarray(start, end)
    }
  }
  return probeMp3Layout(source)
}

let shared: Promise<Rig> | null = null

/** The rig, started on first use and shared by every bench of this run. */
export function getRig(): Promise<Rig> {
  shared ??= startRig()
  return shared
}

export async function closeRig(): Promise<void> {
  if (shared === null) return
  const rig = await shared.catch(() => null)
  shared = null
  await rig?.close()
}

async function startRig(): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'cxgw-bench-'))
  const started: Measured[] = []
  try {
    console.log('compiling the service (npm run build) to measure it as production runs it')
    await buildService()
    console.log(`generating 3 x ${SEGMENT_SECONDS / 60}-minute segments with sox in ${dir}`)
    const paths = await Promise.all([0, 1, 2].map((i) => makeTone(join(dir, `seg${i}.wav`), { seconds: SEGMENT_SECONDS, freq: 300 + 200 * i })))
    const layouts = await Promise.all(
      paths.map(async (p) => {
        const bytes = await readFile(p)
        return parseWavLayout(bytes.subarray(0, 4096), bytes.length)
      })
    )
    const wav = planVirtualWav(layouts)
    console.log(`encoding 3 x ${SEGMENT_SECONDS / 60}-minute MP3 segments with lame ${MP3_LAME.join(' ')}`)
    const mp3s = await Promise.all([0, 1, 2].map((i) => makeMp3(dir, `mp3-${i}`, { seconds: SEGMENT_SECONDS, freq: 300 + 200 * i, lame: MP3_LAME })))
    const mp3 = planMp3(await Promise.all(mp3s.map((m) => mp3Layout(m.bytes))))
    const legsFile = join(dir, 'legs.json')
    const legs = [
      ...Array.from({ length: CALLS }, (_, n) => callLegs(n, paths)),
      ...Array.from({ length: MP3_CALLS }, (_, n) => callLegs(n, mp3s.map((m) => m.path), 'm'))
    ]
    await writeFile(legsFile, JSON.stringify(legs.flat()))
    const planFile = join(dir, 'bare-plan.json')
    await writeFile(planFile, JSON.stringify({ [BARE_PATHS.wav]: barePlan(wav, 'audio/wav', 'd'), [BARE_PATHS.mp3]: barePlan(mp3, 'audio/mpeg', 'm') }))

    const sim = await startChild('sim', [legsFile, String(LATENCY_MS)])
    started.push(sim)
    const gatewayEnv = (stateDir: string): Record<string, string> => ({
      RECORDING_VENDOR: 'eleveo',
      ELEVEO_BASE_URL: sim.url,
      ELEVEO_USERNAME: BENCH_USER,
      ELEVEO_PASSWORD: BENCH_PASSWORD,
      STATE_DIR: stateDir,
      // Every bench client comes from 127.0.0.1; the per-client rate limit would measure itself, not retrieval.
      RATE_LIMIT_MAX: '1000000',
      // On a machine shared with other work a just-started gateway can see more than the default 1 s of
      // event-loop delay and shed with 503 (under-pressure): that is protection working, not retrieval.
      MAX_EVENT_LOOP_DELAY_MS: '0'
    })
    const gateway = await startGateway(gatewayEnv(join(dir, 'state')), { cpuHook: true })
    started.push(gateway)
    const bareArgs = [planFile, sim.url, BENCH_AUTH]
    const bare = await startChild('bare', bareArgs)
    started.push(bare)
    return {
      dir,
      sim,
      gateway,
      bare,
      bareArgs,
      size: wav.size,
      headerLength: wav.header.length,
      segments: layouts.map((l) => ({ dataOffset: l.dataOffset, dataLength: l.dataLength })),
      gatewayEnv,
      close: async () => {
        await Promise.all(started.map((c) => c.stop()))
        await rm(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await Promise.all(started.map((c) => c.stop()))
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}
