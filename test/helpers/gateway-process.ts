import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { testEnv } from './gateway-config.js'
import type { Teardownable } from './sox.js'

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url))

export interface GatewayProcess {
  readonly id: string
  readonly child: ChildProcess
  /** stdout lines (pino JSON) and stderr chunks prefixed `stderr: `. */
  readonly lines: string[]
  exited(): boolean
}

export interface GatewayProcessOptions {
  /** Extra node options before the entry point, e.g. `--expose-gc`. */
  readonly nodeArgs?: readonly string[]
  /** A command the node process is started through, e.g. `['prlimit', '--nofile=256:256']`. */
  readonly wrapper?: readonly string[]
  /** A built entry point (dist/src/server.js), run as production runs it: without tsx. */
  readonly entry?: string
}

/** The real gateway (src/server.ts) as a child process, load shedding off unless `env` sets a limit (testEnv). */
export function startGatewayProcess(t: Teardownable, id: string, env: Record<string, string>, opts: GatewayProcessOptions = {}): GatewayProcess {
  const entry = opts.entry === undefined ? ['--import', 'tsx', SERVER] : [opts.entry]
  const argv = [...(opts.wrapper ?? []), process.execPath, ...(opts.nodeArgs ?? []), ...entry]
  const child = spawn(argv[0] as string, argv.slice(1), {
    env: { PATH: process.env.PATH ?? '', ...testEnv(env) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: string[] = []
  let buf = ''
  child.stdout.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8')
    const parts = buf.split('\n')
    buf = parts.pop() ?? ''
    lines.push(...parts)
  })
  child.stderr.on('data', (chunk: Buffer) => lines.push(`stderr: ${chunk.toString('utf8')}`))
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null
  t.teardown(() => {
    if (!exited()) child.kill('SIGKILL')
  })
  return { id, child, lines, exited }
}

/** The `http://127.0.0.1:<port>` the gateway logged it listens at (PORT=0); throws if it exits first. */
export async function listeningOrigin(gw: GatewayProcess, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (const line of gw.lines) {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
      if (m?.[1] !== undefined) return m[1]
    }
    if (gw.exited()) throw new Error(`gateway ${gw.id} exited before listening:\n${gw.lines.join('\n')}`)
    if (Date.now() > deadline) throw new Error(`gateway ${gw.id} not listening after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
