import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.js'
import type { Config } from '../src/config.js'
import { PING_DIALOG_ID } from '../src/providers/eleveo/provider.js'
import { testConfig } from './helpers/gateway-config.js'
import { makeTone, tempDir, type Teardownable, type ToneOptions } from './helpers/sox.js'
import { startEleveoSimulator, type EleveoSimulator, type EleveoSimulatorOptions, type SimEleveoLeg } from '../simulators/eleveo.js'

/*
 * Shared set-up of the recording tests: an Eleveo simulator serving sox-generated WAVs, and the gateway
 * configured against it the way production is (environment → loadConfig → buildApp).
 */

export const SIM_USER = 'eleveo'
export const SIM_PASSWORD = 'eleveo-secret'
export const T0 = Date.parse('2026-03-02T10:00:00.000Z')

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}

export function gatewayConfig(eleveoUrl: string, env: Record<string, string> = {}): Config {
  return testConfig({
    RECORDING_VENDOR: 'eleveo',
    ELEVEO_BASE_URL: eleveoUrl,
    ELEVEO_USERNAME: SIM_USER,
    ELEVEO_PASSWORD: SIM_PASSWORD,
    // The simulator shares this process: on a loaded machine it can answer seconds late. Tests about the
    // deadline set a short one and a simulator far slower than it.
    ELEVEO_TIMEOUT_MS: '10000',
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    // Shedding is off unless a test is about it: on a busy machine, loading modules alone can leave an
    // event-loop delay sample over the default 1 s, and a 503 would then fail a test about something else.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env
  })
}

export interface Rig {
  sim: EleveoSimulator
  app: FastifyInstance
  dir: string
}

export async function startRig(
  t: Teardownable,
  opts: { legs?: SimEleveoLeg[]; env?: Record<string, string>; sim?: EleveoSimulatorOptions } = {}
): Promise<Rig> {
  const dir = await tempDir(t, 'cxgw-rec-')
  const sim = await startEleveoSimulator({ username: SIM_USER, password: SIM_PASSWORD, ...opts.sim, legs: opts.legs ?? [] })
  t.teardown(() => sim.close())
  const app = await buildApp({ config: gatewayConfig(sim.url, opts.env), logger: false })
  t.teardown(() => app.close())
  return { sim, app, dir }
}

export interface HoldCall {
  dialogId: string
  agentExtension: string
  ani: string
  /** The three segment files, in playback order. */
  paths: string[]
  legs: SimEleveoLeg[]
  /** The leg ID CX would use (start = first segment's start). */
  legId: string
}

/**
 * One call whose leg Eleveo split twice because of HOLD: three segments of different lengths and tones,
 * so a wrong order, a lost byte or a misaligned channel all change the samples.
 */
export async function makeHoldCall(
  dir: string,
  dialogId: string,
  tone: Omit<ToneOptions, 'seconds' | 'freq'> = {},
  seconds: readonly number[] = [2.5, 1.3, 1.75]
): Promise<HoldCall> {
  const paths: string[] = []
  for (const [i, s] of seconds.entries()) {
    const path = join(dir, `${dialogId}-${i}.wav`)
    await makeTone(path, { ...tone, seconds: s, freq: 300 + 150 * i })
    paths.push(path)
  }
  return holdCall(dialogId, paths, seconds)
}

/** The Eleveo legs of one call split by HOLD into the given files (any format), `seconds` long each. */
export function holdCall(dialogId: string, paths: readonly string[], seconds: readonly number[]): HoldCall {
  const agentExtension = '1001'
  const ani = '+41441234567'
  const legs: SimEleveoLeg[] = []
  let at = T0
  for (const [i, s] of seconds.entries()) {
    legs.push({
      id: `${dialogId}-rec-${i}`,
      dialogId,
      agentExtension,
      ani,
      start: iso(at),
      end: iso(at + s * 1000),
      endReason: i < seconds.length - 1 ? 'HOLD' : 'HANGUP',
      wavPath: paths[i]
    })
    at += s * 1000 + 20_000
  }
  return { dialogId, agentExtension, ani, paths: [...paths], legs, legId: `${dialogId}:${agentExtension}:${ani}:${T0}` }
}

export function audioRequests(sim: Pick<EleveoSimulator, 'requests'>): EleveoSimulator['requests'] {
  return sim.requests.filter((r) => r.url.includes('/audio'))
}

/** What the gateway asked Eleveo on behalf of clients: the readiness check's periodic pings left out. */
export function clientRequests(sim: Pick<EleveoSimulator, 'requests'>): EleveoSimulator['requests'] {
  return sim.requests.filter((r) => !r.url.includes(`dialogId=${PING_DIALOG_ID}`))
}

/** Look-ups of calls' legs (pings not counted). */
export function metadataRequests(sim: Pick<EleveoSimulator, 'requests'>): EleveoSimulator['requests'] {
  return clientRequests(sim).filter((r) => r.url.startsWith('/api/recordings?'))
}
