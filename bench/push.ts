import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { request } from 'undici'
import { startCxSimulator, type SimVoiceActivity } from '../simulators/cx.js'
import type { SimEleveoLeg } from '../simulators/eleveo.js'
import { BENCH_PASSWORD, BENCH_USER, buildService, mb, report, rssOf, startChild, startGateway, type Child } from './common.js'

/*
 * Push: one run over CALLS calls of LEGS_PER_CALL legs each (a transfer chain: three agents), with
 * LATENCY_MS added by both simulators to every answer. The gateway (`node dist/src/server.js`), the
 * Eleveo simulator and the CX simulator each run in their own process. The run is started through
 * POST /admin/push-runs and its duration read from the run report.
 *
 * Lower bound: the run cannot be faster than its slowest pipeline stage at full concurrency,
 * max(calls x latency / VENDOR_CONCURRENCY, legs x latency / CX_CONCURRENCY), plus reading the
 * voice-activity pages one after another (pages x latency).
 */

/** BENCH_PUSH_CALLS overrides it for a quick try; the figure the issue asks for is the default. */
const CALLS = Number(process.env.BENCH_PUSH_CALLS ?? 10_000)
const LEGS_PER_CALL = 3
const LATENCY_MS = 20
const VENDOR_CONCURRENCY = 8
const CX_CONCURRENCY = 4
/** The client asks for pages this big (CxClient's default). */
const PAGE_SIZE = 500
const ADMIN = 'bench-admin-token-0123456789'
const CX_CLIENT_SECRET = 'bench-cx-client-secret'
const CX_PASSWORD = 'bench-cx-password'

interface CxStats {
  received: number
  unique: number
  tokens: number
}

function scenario(now: number): { activities: SimVoiceActivity[]; legs: SimEleveoLeg[] } {
  // Spread over the 50 minutes before now so everything lies in the run's one default window.
  const first = now - 55 * 60_000
  const step = Math.floor((50 * 60_000) / CALLS)
  const activities: SimVoiceActivity[] = []
  const legs: SimEleveoLeg[] = []
  for (let c = 0; c < CALLS; c++) {
    const dialogId = `bench-${c}`
    for (let l = 0; l < LEGS_PER_CALL; l++) {
      const start = first + c * step + l * 20_000
      const agent = String(1001 + l)
      activities.push({
        conversationId: `conv-${c}`,
        channelSessionId: `cs-${c}-${l}`,
        dialogId,
        agentExtension: agent,
        ani: '5550100',
        legStartTime: new Date(start).toISOString(),
        legEndTime: new Date(start + 19_000).toISOString()
      })
      legs.push({
        id: `rec-${c}-${l}`,
        dialogId,
        agentExtension: agent,
        ani: '5550100',
        // Recorders start a little after CX notes the leg.
        start: new Date(start + 700).toISOString(),
        end: new Date(start + 19_000).toISOString(),
        endReason: l < LEGS_PER_CALL - 1 ? 'TRANSFER' : 'HANGUP'
      })
    }
  }
  return { activities, legs }
}

interface CxChild extends Child {
  tokenUrl: string
  stats(): Promise<CxStats>
}

async function startCxChild(activitiesFile: string): Promise<CxChild> {
  const script = fileURLToPath(import.meta.url)
  const proc: ChildProcess = fork(script, ['cx-sim', activitiesFile, String(LATENCY_MS)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const { url, tokenUrl } = await new Promise<{ url: string; tokenUrl: string }>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as { url: string; tokenUrl: string }))
    proc.once('exit', (code) => reject(new Error(`CX simulator exited with ${code} before listening`)))
  })
  return {
    url,
    tokenUrl,
    pid: proc.pid ?? -1,
    stats: () =>
      new Promise<CxStats>((resolve) => {
        proc.once('message', (m) => resolve(m as CxStats))
        proc.send('stats')
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.disconnect()
      })
  }
}

/** The CX simulator process: serves the activities, counts what it accepts, answers `stats` over IPC. */
async function cxSimChild(activitiesFile: string, latencyMs: string): Promise<void> {
  const activities = JSON.parse(await readFile(activitiesFile, 'utf8')) as SimVoiceActivity[]
  const sim = await startCxSimulator({ activities, latencyMs: Number(latencyMs), clientSecret: CX_CLIENT_SECRET, password: CX_PASSWORD, maxPageSize: PAGE_SIZE })
  setInterval(() => sim.requests.splice(0), 1000).unref()
  process.on('message', (m) => {
    if (m === 'stats') process.send?.({ received: sim.received.length, unique: sim.countsById().size, tokens: sim.tokensIssued } satisfies CxStats)
  })
  process.on('disconnect', () => process.exit(0))
  process.send?.({ url: sim.url, tokenUrl: sim.tokenUrl })
}

export async function runPushBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cxgw-bench-push-'))
  const children: Child[] = []
  try {
    await buildService()
    const { activities, legs } = scenario(Date.now())
    const activitiesFile = join(dir, 'activities.json')
    const legsFile = join(dir, 'legs.json')
    await writeFile(activitiesFile, JSON.stringify(activities))
    await writeFile(legsFile, JSON.stringify(legs))

    const eleveo = await startChild('sim', [legsFile, String(LATENCY_MS)])
    children.push(eleveo)
    const cx = await startCxChild(activitiesFile)
    children.push(cx)
    const gateway = await startGateway({
      RECORDING_VENDOR: 'eleveo',
      ELEVEO_BASE_URL: eleveo.url,
      ELEVEO_USERNAME: BENCH_USER,
      ELEVEO_PASSWORD: BENCH_PASSWORD,
      VENDOR_CONCURRENCY: String(VENDOR_CONCURRENCY),
      PROCESSING_DELAY_S: '0',
      CX_BASE_URL: cx.url,
      CX_TOKEN_URL: cx.tokenUrl,
      CX_CLIENT_ID: 'cim',
      CX_CLIENT_SECRET,
      CX_USERNAME: 'gateway',
      CX_PASSWORD,
      CX_CONCURRENCY: String(CX_CONCURRENCY),
      PUBLIC_BASE_URL: 'https://gateway.example.com',
      PUSH_INTERVAL_S: '86400',
      PUSH_DEFAULT_WINDOW_S: '3600',
      STATE_DIR: join(dir, 'state'),
      ADMIN_TOKEN: ADMIN
    })
    children.push(gateway)

    const headers = { authorization: `Bearer ${ADMIN}` }
    const started = await request(`${gateway.url}/admin/push-runs`, { method: 'POST', headers })
    const { id } = (await started.body.json()) as { id: string }
    if (started.statusCode !== 202) throw new Error(`POST /admin/push-runs answered ${started.statusCode}`)
    let run: { id: string; status: string; durationMs: number; pushed: number; legs: number; calls: number; error: string | null }
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000))
      const res = await request(`${gateway.url}/admin/push-runs/latest`, { headers })
      run = (await res.body.json()) as typeof run
      if (run.id === id && run.status !== 'running') break
    }
    const { peak } = await rssOf(gateway.pid)
    const stats = await cx.stats()

    const legsTotal = CALLS * LEGS_PER_CALL
    const pages = Math.ceil(legsTotal / PAGE_SIZE) + 1
    const lowerBoundMs = Math.max((CALLS * LATENCY_MS) / VENDOR_CONCURRENCY, (legsTotal * LATENCY_MS) / CX_CONCURRENCY) + pages * LATENCY_MS
    const ratio = run.durationMs / lowerBoundMs
    console.log(`push: ${CALLS} calls x ${LEGS_PER_CALL} legs, ${LATENCY_MS} ms latency in Eleveo and CX, VENDOR_CONCURRENCY=${VENDOR_CONCURRENCY}, CX_CONCURRENCY=${CX_CONCURRENCY}`)
    report('run status', run.status + (run.error ? ` (${run.error})` : ''), 'ok', run.status === 'ok')
    report('links accepted by CX (unique / received)', `${stats.unique} / ${stats.received}`, `${legsTotal} / ${legsTotal}`, stats.unique === legsTotal && stats.received === legsTotal)
    report('run duration', `${(run.durationMs / 1000).toFixed(1)} s`, '', null)
    report('lower bound (latency x work / concurrency + paging)', `${(lowerBoundMs / 1000).toFixed(1)} s`, '', null)
    report('duration / lower bound', ratio.toFixed(2), '<= 1.5', ratio <= 1.5)
    report('peak RSS of the gateway (VmHWM)', mb(peak), '', null)
    report('token requests', String(stats.tokens), '1', stats.tokens === 1)
  } finally {
    for (const c of children.reverse()) await c.stop().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === 'cx-sim') {
  cxSimChild(process.argv[3] ?? '', process.argv[4] ?? '0').catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
