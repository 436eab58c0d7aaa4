import { readdir } from 'node:fs/promises'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import postgres from 'postgres'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { EleveoProvider } from '../../src/providers/eleveo/provider.js'
import type { RecordingProvider } from '../../src/providers/types.js'
import { ADMIN_TOKEN, pushEnv } from '../push-rig.js'
import type { CxSimulator, ReceivedMessage } from '../../simulators/cx.js'
import type { EleveoSimulator } from '../../simulators/eleveo.js'
import { tempDir, type Teardownable } from './sox.js'
export { startGatewayProcess, type GatewayProcess } from './gateway-process.js'

/*
 * Several gateway instances against one PostgreSQL state database and the CX and Eleveo simulators:
 * in-process (buildApp, for inject and log capture) or as real processes (src/server.ts, for kill -9).
 * Each instance has its own INSTANCE_ID and CX_SENDER_ID, so every message CX receives names its sender.
 */

export const senderOf = (id: string): string => `sender-${id}`

/** Messages CX accepted from one instance. */
export function receivedFrom(cx: CxSimulator, id: string): ReceivedMessage[] {
  return cx.received.filter((r) => (r.message.header as { sender: { id: string } }).sender.id === senderOf(id))
}

export function instanceEnv(
  cx: CxSimulator,
  eleveo: EleveoSimulator,
  databaseUrl: string,
  stateDir: string,
  id: string,
  env: Record<string, string> = {}
): Record<string, string> {
  return pushEnv(cx, eleveo, stateDir, {
    STATE_DATABASE_URL: databaseUrl,
    INSTANCE_ID: id,
    CX_SENDER_ID: senderOf(id),
    ADMIN_TOKEN,
    HEALTH_CHECK_INTERVAL_MS: '200',
    ...env
  })
}

export interface Instance {
  readonly id: string
  readonly app: FastifyInstance
  /** Every log line, parsed. */
  readonly logs: Array<Record<string, unknown>>
  /** An admin request (the bearer token added). */
  admin(method: 'GET' | 'POST', url: string, body?: unknown): Promise<LightMyRequestResponse>
  /** The STATE_DIR given to it: a PostgreSQL instance must leave it empty. */
  readonly stateDir: string
}

export interface InstanceOptions {
  env?: Record<string, string>
  /** Wraps the instance's own Eleveo provider (to hold a run at a known point). */
  wrapProvider?: (p: RecordingProvider) => RecordingProvider
  /** Called synchronously with each log line as it is written. */
  onLog?: (line: Record<string, unknown>) => void
}

export async function startInstance(
  t: Teardownable,
  sims: { cx: CxSimulator; eleveo: EleveoSimulator },
  databaseUrl: string,
  id: string,
  opts: InstanceOptions = {}
): Promise<Instance> {
  const stateDir = await tempDir(t, `cxgw-multi-${id}-`)
  const config = loadConfig(instanceEnv(sims.cx, sims.eleveo, databaseUrl, stateDir, id, opts.env))
  let provider: RecordingProvider | undefined
  if (opts.wrapProvider) {
    const e = config.recorder
    if (e.vendor !== 'eleveo') throw new Error('the instances run against Eleveo')
    const real = new EleveoProvider({ baseUrl: sims.eleveo.url, username: e.username, password: e.password, timeoutMs: e.timeoutMs })
    t.teardown(() => real.close())
    provider = opts.wrapProvider(real)
  }
  const logs: Array<Record<string, unknown>> = []
  const app = await buildApp({
    config,
    ...(provider ? { provider } : {}),
    logger: {
      level: 'debug',
      stream: {
        write: (line: string) => {
          const parsed = JSON.parse(line) as Record<string, unknown>
          logs.push(parsed)
          opts.onLog?.(parsed)
        }
      }
    }
  })
  t.teardown(() => app.close())
  // Listening starts the background readiness checks, as in production.
  await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    id,
    app,
    logs,
    stateDir,
    admin: (method, url, body) =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> })
      })
  }
}

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0
}

/** Polls `cond` every 25 ms; throws with `what` after `ms` (a hang must fail the test, not time it out silently). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A plain client for assertions on the state tables. */
export function inspect(t: Teardownable, databaseUrl: string): postgres.Sql {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  return sql
}


