import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Teardownable } from './sox.js'

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url))

export interface GatewayProcess {
  readonly id: string
  readonly child: ChildProcess
  /** stdout lines (pino JSON) and stderr chunks prefixed `stderr: `. */
  readonly lines: string[]
  exited(): boolean
}

/** The real gateway (src/server.ts) as a child process. */
export function startGatewayProcess(t: Teardownable, id: string, env: Record<string, string>): GatewayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { PATH: process.env.PATH ?? '', ...env },
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
