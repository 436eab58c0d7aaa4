import { execFile, fork, spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'

/** Credentials the bench simulator and gateway share. */
export const BENCH_USER = 'bench'
export const BENCH_PASSWORD = 'bench-secret'
export const BENCH_AUTH = `Basic ${Buffer.from(`${BENCH_USER}:${BENCH_PASSWORD}`).toString('base64')}`

export interface Child {
  url: string
  pid: number
  stop(): Promise<void>
}

/** Starts `bench/child.ts <mode> ...args` (simulator or baseline pipe) in its own Node process and waits until it listens. */
export async function startChild(mode: 'sim' | 'pipe', args: string[]): Promise<Child> {
  const script = fileURLToPath(new URL('./child.ts', import.meta.url))
  const proc: ChildProcess = fork(script, [mode, ...args], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const url = await new Promise<string>((resolve, reject) => {
    proc.once('message', (m) => resolve((m as { url: string }).url))
    proc.once('exit', (code) => reject(new Error(`bench ${mode} exited with ${code} before listening`)))
  })
  return {
    url,
    pid: proc.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.disconnect()
      })
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** `npm run build`'s compile, so the gateway can be measured as production runs it (no TypeScript loader). */
export async function buildService(): Promise<void> {
  await promisify(execFile)(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'], {
    cwd: ROOT
  })
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      s.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/**
 * The real service (`node dist/src/server.js`, as `npm start` runs it) with its configuration in the
 * environment; logs at info go to /dev/null so their cost is counted but not their volume.
 * Stopped with SIGTERM, i.e. through its graceful shutdown.
 */
export async function startGateway(env: Record<string, string>): Promise<Child> {
  const port = await freePort()
  const proc = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`gateway exited with ${proc.exitCode} before listening`)
    const ok = await request(`${url}/recordings/x`).then(
      (r) => r.body.dump().then(() => true),
      () => false
    )
    if (ok) break
    if (i > 200) throw new Error('gateway did not start listening')
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url,
    pid: proc.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.kill('SIGTERM')
      })
  }
}

/** Resident set size of another process, from /proc (Linux), in bytes; VmHWM is its peak so far. */
export async function rssOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`

/** One result line: figure, target, and whether it is met (a report, not an assertion). */
export function report(label: string, value: string, target: string, met: boolean | null): void {
  const verdict = met === null ? '' : met ? '  ok' : '  MISSED'
  console.log(`  ${label.padEnd(58)} ${value.padStart(12)}   target ${target}${verdict}`)
}
