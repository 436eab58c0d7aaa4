import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Teardownable } from './sox.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface DemoProcess {
  child: ChildProcess
  /** Everything printed so far. */
  stdout(): string
  stderr(): string
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

/**
 * `npm run demo -- <args>` as a newcomer runs it (src/demo.ts through tsx, in a child process with a
 * bare environment, any free port), resolved once it prints that it serves; killed at teardown.
 */
export async function startDemo(t: Teardownable, args: string[] = []): Promise<DemoProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DEMO_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (stdout.includes('Serving until Ctrl-C.')) resolve()
    })
    void exited.then(([code]) => reject(new Error(`the demo exited (${code}) early:\n${stdout}\n${stderr}`)))
  })
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}
