import { execFile, fork, spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { performance } from 'node:perf_hooks'
import { request, type Dispatcher } from 'undici'
import type { Hash } from 'node:crypto'

/**
 * Every process the bench starts, killed when the bench exits however it exits: a gateway or simulator
 * left running would hold ports, a core and the terminal's output pipe.
 */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const proc of running) proc.kill('SIGKILL')
})

function track(proc: ChildProcess): ChildProcess {
  running.add(proc)
  proc.once('exit', () => running.delete(proc))
  return proc
}

/** Credentials the bench simulator and gateway share. */
export const BENCH_USER = 'bench'
export const BENCH_PASSWORD = 'bench-secret'
export const BENCH_AUTH = `Basic ${Buffer.from(`${BENCH_USER}:${BENCH_PASSWORD}`).toString('base64')}`

export interface Child {
  url: string
  pid: number
  stop(): Promise<void>
}

/** Starts `bench/child.ts <mode> ...args` (simulator or bare proxy) in its own Node process and waits until it listens. */
export async function startChild(mode: 'sim' | 'bare' | 'bare-undici', args: string[], nodeArgs: string[] = []): Promise<Measured> {
  const script = fileURLToPath(new URL('./child.ts', import.meta.url))
  const proc = track(fork(script, [mode, ...args], { execArgv: [...nodeArgs, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const url = await new Promise<string>((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const u = (m as { url?: string }).url
      if (u === undefined) return
      proc.off('message', onMessage)
      resolve(u)
    }
    proc.on('message', onMessage)
    proc.once('exit', (code) => reject(new Error(`bench ${mode} exited with ${code} before listening`)))
  })
  return {
    url,
    pid: proc.pid ?? -1,
    cpuSeconds: () => askCpuSeconds(proc),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.disconnect()
      })
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** `npm run build` (compile, and openapi.yaml into dist/), so the gateway is measured as production runs it (no TypeScript loader). */
export async function buildService(): Promise<void> {
  await promisify(execFile)('npm', ['run', '--silent', 'build'], { cwd: ROOT })
}

export async function freePort(): Promise<number> {
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
 * Bench-only hook, preloaded with `--import` into a measured process (never part of the service): on the
 * IPC message `bench:cpu` it answers with its own process.cpuUsage(), so CPU time is read from inside the
 * process without a route. A data: URL keeps it out of the build and off the disk.
 */
export const CPU_USAGE_HOOK =
  "data:text/javascript,process.on('message',(m)=>{if(m==='bench:cpu')process.send({cpu:process.cpuUsage()})})"

export interface Measured extends Child {
  /** The process's own user + system CPU time so far, in seconds. */
  cpuSeconds(): Promise<number>
}

/** Asks a process started with CPU_USAGE_HOOK (or answering `bench:cpu` itself) for its CPU time. */
export function askCpuSeconds(proc: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const cpu = (m as { cpu?: NodeJS.CpuUsage }).cpu
      if (cpu === undefined) return
      proc.off('message', onMessage)
      resolve((cpu.user + cpu.system) / 1e6)
    }
    proc.on('message', onMessage)
    if (!proc.send('bench:cpu')) reject(new Error('the process has no IPC channel'))
  })
}

/** Polls `url` until it answers 200; returns when that happened (performance.now()). */
export async function waitFor200(url: string, proc: ChildProcess, everyMs: number, what: string): Promise<number> {
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode} before answering`)
    const ok = await request(url).then(
      (r) => r.body.dump().then(() => r.statusCode === 200),
      () => false
    )
    if (ok) return performance.now()
    if (i * everyMs > 20_000) throw new Error(`${what} did not answer ${url} within 20 s`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
    proc.once('exit', () => resolve())
    proc.kill(signal)
  })
}

export interface GatewayStart extends Measured {
  /** From spawn to the first 200 of /health/live, in ms (polled every 2 ms). */
  startupMs: number
  /** performance.now() of that first 200. */
  startedAt: number
}

/**
 * The real service as production runs it: `node dist/src/server.js` spawned directly (not through npm,
 * so RSS and CPU are the server's alone), its configuration in the environment; logs at info go to
 * /dev/null so their cost is counted but not their volume. `cpuHook` preloads CPU_USAGE_HOOK (an IPC
 * channel and 1 listener; left out where start-up time or idle memory is measured); `nodeArgs` go before
 * the script (e.g. --cpu-prof).
 * Stopped with SIGTERM, i.e. through its graceful shutdown.
 */
export async function startGateway(env: Record<string, string>, opts: { cpuHook?: boolean; nodeArgs?: string[] } = {}): Promise<GatewayStart> {
  const port = await freePort()
  const t0 = performance.now()
  const proc = track(spawn(process.execPath, [...(opts.nodeArgs ?? []), ...(opts.cpuHook === true ? ['--import', CPU_USAGE_HOOK] : []), 'dist/src/server.js'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit', ...(opts.cpuHook === true ? (['ipc'] as const) : [])]
  }))
  const url = `http://127.0.0.1:${port}`
  const live = await waitFor200(`${url}/health/live`, proc, 2, 'gateway')
  return {
    url,
    pid: proc.pid ?? -1,
    startupMs: live - t0,
    startedAt: live,
    cpuSeconds: () => askCpuSeconds(proc),
    stop: () => stopProcess(proc)
  }
}

/** The start-up and idle-memory baseline: the smallest Node HTTP server, `node -e`, answering 200 to anything. */
export async function startBareNodeServer(opts: { cpuHook?: boolean } = {}): Promise<GatewayStart> {
  const port = await freePort()
  const t0 = performance.now()
  const hook = opts.cpuHook === true ? ['--import', CPU_USAGE_HOOK] : []
  const proc = track(spawn(process.execPath, [...hook, '-e', "require('node:http').createServer((q,s)=>s.end('ok')).listen(+process.env.PORT,'127.0.0.1')"], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit', ...(opts.cpuHook === true ? (['ipc'] as const) : [])]
  }))
  const url = `http://127.0.0.1:${port}`
  const live = await waitFor200(`${url}/health/live`, proc, 2, 'node -e server')
  return { url, pid: proc.pid ?? -1, startupMs: live - t0, startedAt: live, cpuSeconds: () => askCpuSeconds(proc), stop: () => stopProcess(proc) }
}

/**
 * Downloads the whole body (undici's dump() would stop at 128 KiB) and checks it against Content-Length;
 * returns the bytes received. `hash` sees every chunk when given.
 */
export async function download(url: string, dispatcher: Dispatcher, hash?: Hash): Promise<number> {
  const res = await request(url, { dispatcher })
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode} ${(await res.body.text()).slice(0, 300)}`)
  let bytes = 0
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    bytes += chunk.length
    hash?.update(chunk)
  }
  const promised = Number(res.headers['content-length'])
  if (bytes !== promised) throw new Error(`${url}: ${bytes} of ${promised} bytes`)
  return bytes
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

/** One result line, a figure beside its baseline: `label  gateway X / baseline Y = ratio  target T  ok|MISSED`. */
export function row(label: string, gateway: string, baseline: string, ratio: number, target: string, met: boolean | null): void {
  const verdict = met === null ? '' : met ? '  ok' : '  MISSED'
  console.log(`  ${label.padEnd(34)} ${gateway.padStart(12)} / ${baseline.padEnd(26)} = ${ratio.toFixed(2).padStart(5)}   target ${target}${verdict}`)
}

/** A figure without a baseline (a difference, a count): `label  value  target T  ok|MISSED`. */
export function report(label: string, value: string, target: string, met: boolean | null): void {
  const verdict = met === null ? '' : met ? '  ok' : '  MISSED'
  console.log(`  ${label.padEnd(34)} ${value.padStart(12)}   target ${target}${verdict}`)
}
