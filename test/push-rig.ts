import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.js'
import { loadConfig, whenPushing, type Config } from '../src/config.js'
import { createCxClient } from '../src/cx/client.js'
import { runPushJob, type JobLogger, type PushJobDeps } from '../src/jobs/push-links.js'
import type { PushRunner } from '../src/jobs/push-runner.js'
import { RunTally } from '../src/jobs/tally.js'
import { FileStateStore } from '../src/state/file-store.js'
import { formatLegId } from '../src/legs/leg-id.js'
import { EleveoProvider } from '../src/providers/eleveo/provider.js'
import type { RecordingProvider } from '../src/providers/types.js'
import type { PushRunReport } from '../src/state/types.js'
import { testEnv } from './helpers/gateway-config.js'
import { tempDir, type Teardownable } from './helpers/sox.js'
import { startCxSimulator, type CxSimulator, type CxSimulatorOptions, type SimVoiceActivity } from '../simulators/cx.js'
import { startEleveoSimulator, type EleveoSimulator, type EleveoSimulatorOptions, type SimEleveoLeg } from '../simulators/eleveo.js'

/*
 * Shared set-up of the push tests: the CX and Eleveo simulators on real sockets and the gateway built
 * the way production builds it (environment → loadConfig → buildApp), with its logs captured.
 */

export const CX_SECRETS = {
  clientSecret: 'cim-client-secret-7f3a9c',
  password: 'gateway-password-b81e44'
}
export const ELEVEO_PASSWORD = 'eleveo-secret-5d20aa'
export const PUBLIC_BASE_URL = 'https://gateway.example.com'
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef'

/** A leg start well inside the default window (the last hour), on a whole second. */
export function baseTime(): number {
  return Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
}

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}

/** One CX voice activity. */
export function cxLeg(dialogId: string, agentExtension: string, start: number, ani = '+41441234567'): SimVoiceActivity {
  return {
    conversationId: `conv-${dialogId}`,
    channelSessionId: `cs-${dialogId}-${agentExtension}-${start}`,
    dialogId,
    agentExtension,
    ani,
    legStartTime: iso(start),
    legEndTime: iso(start + 60_000)
  }
}

/** One Eleveo recording (one part of a leg when endReason is HOLD). */
export function eleveoLeg(
  id: string,
  dialogId: string,
  agentExtension: string,
  start: number,
  end: number,
  endReason = 'HANGUP',
  ani = '+41441234567'
): SimEleveoLeg {
  return { id, dialogId, agentExtension, ani, start: iso(start), end: iso(end), endReason }
}

/**
 * `count` calls, one a second from `base`, each transferred from agent 1001 to 1002: two CX legs per
 * call and the Eleveo recording of each, starting 50 ms after its CX leg.
 */
export function transferCalls(count: number, base: number): { activities: SimVoiceActivity[]; legs: SimEleveoLeg[] } {
  const activities = Array.from({ length: count }, (_, i) => [
    cxLeg(`K${i}`, '1001', base + i * 1000),
    cxLeg(`K${i}`, '1002', base + i * 1000 + 400)
  ]).flat()
  const legs = activities.map((a, i) => {
    const start = Date.parse(a.legStartTime)
    return eleveoLeg(`e${i}`, a.dialogId, a.agentExtension, start + 50, start + 300)
  })
  return { activities, legs }
}

/** The legId the gateway derives from a voice activity. */
export function legIdOf(a: SimVoiceActivity): string {
  return formatLegId({ dialogId: a.dialogId, agentExtension: a.agentExtension, ani: a.ani, startTime: Date.parse(a.legStartTime) })
}

export function pushEnv(cx: CxSimulator, eleveo: EleveoSimulator, stateDir: string, env: Record<string, string> = {}): Record<string, string> {
  return testEnv({
    RECORDING_VENDOR: 'eleveo',
    ELEVEO_BASE_URL: eleveo.url,
    ELEVEO_USERNAME: 'eleveo',
    ELEVEO_PASSWORD,
    // The simulators share this process: on a loaded machine they can answer seconds late. Tests about
    // deadlines set a short one and a simulator far slower than it.
    ELEVEO_TIMEOUT_MS: '10000',
    PROCESSING_DELAY_S: '0',
    CX_BASE_URL: cx.url,
    CX_TOKEN_URL: cx.tokenUrl,
    CX_CLIENT_ID: 'cim',
    CX_CLIENT_SECRET: CX_SECRETS.clientSecret,
    CX_USERNAME: 'gateway',
    CX_PASSWORD: CX_SECRETS.password,
    CX_TIMEOUT_MS: '10000',
    CX_SENDER_ID: 'recording-gateway-test',
    PUBLIC_BASE_URL,
    PUSH_INTERVAL_S: '3600',
    STATE_DIR: stateDir,
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: '0',
    INSTANCE_ID: 'test-instance',
    ...env
  })
}

export interface PushRig {
  cx: CxSimulator
  eleveo: EleveoSimulator
  stateDir: string
  config: Config
  app: FastifyInstance
  runner: PushRunner
  /** Every log line of every app built by this rig, as JSON text. */
  logs: string[]
  /** One manual run to its end. */
  run(): Promise<PushRunReport>
  /** Closes the app and builds a new one on the same state directory (a restart). */
  restart(env?: Record<string, string>): Promise<void>
}

export interface PushRigOptions {
  activities?: SimVoiceActivity[]
  legs?: SimEleveoLeg[]
  env?: Record<string, string>
  cxSim?: CxSimulatorOptions
  eleveoSim?: EleveoSimulatorOptions
  /** Wraps the real Eleveo provider (fault injection at the provider seam). */
  wrapProvider?: (p: RecordingProvider) => RecordingProvider
}

export async function startPushRig(t: Teardownable, opts: PushRigOptions = {}): Promise<PushRig> {
  const stateDir = await tempDir(t, 'cxgw-push-')
  const cx = await startCxSimulator({
    clientSecret: CX_SECRETS.clientSecret,
    password: CX_SECRETS.password,
    ...opts.cxSim,
    activities: opts.activities ?? []
  })
  t.teardown(() => cx.close())
  const eleveo = await startEleveoSimulator({ password: ELEVEO_PASSWORD, ...opts.eleveoSim, legs: opts.legs ?? [] })
  t.teardown(() => eleveo.close())
  const logs: string[] = []

  const rig = { cx, eleveo, stateDir, logs } as PushRig
  const build = async (env: Record<string, string>): Promise<void> => {
    const config = loadConfig(pushEnv(cx, eleveo, stateDir, { ...opts.env, ...env }))
    let provider: RecordingProvider | undefined
    if (opts.wrapProvider) {
      const e = config.recorder
      if (e.vendor !== 'eleveo') throw new Error('the rig runs against Eleveo')
      const real = new EleveoProvider({ baseUrl: eleveo.url, username: e.username, password: e.password, timeoutMs: e.timeoutMs })
      provider = opts.wrapProvider(real)
      t.teardown(() => real.close())
    }
    const app = await buildApp({
      config,
      ...(provider ? { provider } : {}),
      logger: { stream: { write: (line: string) => void logs.push(line) } }
    })
    if (app.pushRunner === null) throw new Error('the rig expected pushing to be enabled')
    rig.app = app
    rig.config = config
    rig.runner = app.pushRunner
  }
  await build({})
  t.teardown(() => rig.app.close())

  rig.run = async () => {
    const report = await rig.runner.start('manual').done
    if (report === null) throw new Error('the run did not happen (not the leader)')
    return report
  }
  rig.restart = async (env = {}) => {
    await rig.app.close()
    await build(env)
  }
  return rig
}

export interface CapturedLog {
  level: 'info' | 'warn' | 'error' | 'debug'
  args: unknown[]
}

/** A JobLogger that keeps what it is told. */
export function captureLog(): { log: JobLogger; lines: CapturedLog[] } {
  const lines: CapturedLog[] = []
  const at =
    (level: CapturedLog['level']) =>
    (...args: unknown[]): void => {
      lines.push({ level, args })
    }
  return { log: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') }, lines }
}

export interface JobRig {
  cx: CxSimulator
  eleveo: EleveoSimulator
  stateDir: string
  config: Config
  store: FileStateStore
  deps: PushJobDeps
  logs: CapturedLog[]
  /** The job's clock; tests move it. */
  clock: { now: number }
  /** One run of the job function itself (no runner, no app). */
  run(opts?: { range?: { start: number; end: number }; signal?: AbortSignal }): Promise<{ tally: RunTally; error: unknown }>
  /** A new store on the same directory, as after a restart. */
  reopen(): Promise<void>
}

/** The push job without the app around it: its clock can be set, its store reopened. */
export async function startJobRig(t: Teardownable, opts: PushRigOptions & { now: number }): Promise<JobRig> {
  const stateDir = await tempDir(t, 'cxgw-job-')
  const cx = await startCxSimulator({ clientSecret: CX_SECRETS.clientSecret, password: CX_SECRETS.password, ...opts.cxSim, activities: opts.activities ?? [] })
  t.teardown(() => cx.close())
  const eleveo = await startEleveoSimulator({ password: ELEVEO_PASSWORD, ...opts.eleveoSim, legs: opts.legs ?? [] })
  t.teardown(() => eleveo.close())
  const config = loadConfig(pushEnv(cx, eleveo, stateDir, opts.env))
  const e = config.recorder
  if (e.vendor !== 'eleveo') throw new Error('the rig runs against Eleveo')
  const provider = new EleveoProvider({ baseUrl: eleveo.url, username: e.username, password: e.password, timeoutMs: e.timeoutMs })
  t.teardown(() => provider.close())
  const pushing = whenPushing(config)
  if (pushing === null) throw new Error('pushing is not enabled')
  const client = createCxClient(pushing.cx)
  t.teardown(() => client.close())
  const { log, lines } = captureLog()
  const clock = { now: opts.now }
  const rig = { cx, eleveo, stateDir, config, logs: lines, clock } as JobRig
  const open = async (): Promise<void> => {
    rig.store = await FileStateStore.open(stateDir)
    rig.deps = { config: pushing, provider, cx: client, store: rig.store, log, now: () => clock.now }
  }
  await open()
  t.teardown(() => rig.store.close())
  let n = 0
  rig.run = async (o = {}) => {
    const tally = new RunTally(`run-${++n}`, 'job-rig', o.range ? 'backfill' : 'manual', clock.now)
    let error: unknown = null
    try {
      await runPushJob(rig.deps, { tally, ...o })
    } catch (err) {
      error = err
    }
    return { tally, error }
  }
  rig.reopen = async () => {
    await rig.store.close()
    await open()
  }
  return rig
}
