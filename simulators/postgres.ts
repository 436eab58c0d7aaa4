/*
 * A real, throw-away PostgreSQL server (one per test file; the CallREC demo starts one too): initdb
 * into a temp directory, start on a free 127.0.0.1 port, remove everything on close. Works as root (initdb refuses root, so the server runs
 * as the `postgres` user through runuser) and as an ordinary user (CI with sudo-installed binaries).
 *
 * A crashed or killed test must not leave a server behind: besides an 'exit' hook, a detached watchdog
 * shell holds a pipe from this process and stops the server when that pipe closes, which happens
 * however this process dies (even SIGKILL, which no hook can catch).
 */
import { spawn, spawnSync, execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, chownSync, mkdirSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth, no password). */
  url: string
  port: number
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>
  /** Stops the server (fast shutdown: clients are disconnected) and keeps its data. */
  stop(): Promise<void>
  /** Starts the stopped server again on the same port. */
  start(): Promise<void>
  /** Stops the server and removes its data. Idempotent. */
  close(): Promise<void>
}

const execFileAsync = promisify(execFile)

function findBinary(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  // Debian keeps the server binaries out of PATH, one directory per major version: take the newest.
  const base = '/usr/lib/postgresql'
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin', name)))
      .sort((a, b) => Number(b) - Number(a))
    if (versions[0] !== undefined) return join(base, versions[0], 'bin', name)
  }
  throw new Error(`PostgreSQL binary ${name} not found on PATH or in ${base}/*/bin (install the postgresql package)`)
}

function findRunuser(): string {
  for (const p of ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser', '/bin/runuser']) {
    if (existsSync(p)) return p
  }
  throw new Error('running as root but runuser is not available to drop to the postgres user')
}

interface Runner {
  /** Command and arguments that run `argv` as the user owning the cluster. */
  wrap(argv: string[]): [string, string[]]
}

function makeRunner(): { runner: Runner; owner: { uid: number; gid: number } | null } {
  if (process.getuid?.() !== 0) return { runner: { wrap: ([cmd, ...args]) => [cmd!, args] }, owner: null }
  const id = (flag: string): number => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error('running as root but there is no `postgres` user to run PostgreSQL as')
    return Number(r.stdout.trim())
  }
  const runuser = findRunuser()
  return {
    runner: { wrap: (argv) => [runuser, ['-u', 'postgres', '--', ...argv]] },
    owner: { uid: id('-u'), gid: id('-g') }
  }
}

/**
 * Where the cluster's directory goes. As root the server runs as `postgres`, which must be able to
 * reach it: a TMPDIR under /root would not do, so fall back to /tmp then.
 */
function baseDir(runner: Runner, dropsPrivileges: boolean): string {
  const base = tmpdir()
  if (!dropsPrivileges) return base
  const [cmd, args] = runner.wrap(['test', '-x', base])
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0 ? base : '/tmp'
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => resolve(port))
    })
  })
}

async function run(runner: Runner, argv: string[], cwd: string): Promise<void> {
  const [cmd, args] = runner.wrap(argv)
  try {
    await execFileAsync(cmd, args, { cwd, maxBuffer: 4 * 1024 * 1024 })
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string }
    throw new Error(`${argv.slice(0, 2).join(' ')} failed: ${e.stderr || e.stdout || e.message}`)
  }
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/

export async function startPostgres(): Promise<TestPostgres> {
  const initdb = findBinary('initdb')
  const pgCtl = findBinary('pg_ctl')
  const { runner, owner } = makeRunner()

  const root = mkdtempSync(join(baseDir(runner, owner !== null), 'gw-pg-'))
  const dataDir = join(root, 'data')
  const socketDir = join(root, 'sock')
  const logFile = join(root, 'server.log')
  mkdirSync(socketDir)
  if (owner) {
    chownSync(root, owner.uid, owner.gid)
    chownSync(socketDir, owner.uid, owner.gid)
  }

  let removed = false
  const removeNow = (): void => {
    if (removed) return
    removed = true
    // The server runs as the cluster owner and could still be writing: stop it before deleting.
    const [cmd, args] = runner.wrap([pgCtl, 'stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10'])
    if (existsSync(join(dataDir, 'postmaster.pid'))) spawnSync(cmd, args, { cwd: root, stdio: 'ignore' })
    rmSync(root, { recursive: true, force: true })
  }
  process.once('exit', removeNow)

  // The watchdog: `cat` returns when our end of its stdin closes, i.e. when this process is gone.
  // It is detached (own session) so a signal to our process group does not take it down first.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'cat >/dev/null; pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null;' +
        ' while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; rm -rf "$2"',
      'pg-watchdog',
      dataDir,
      root
    ],
    { detached: true, stdio: ['pipe', 'ignore', 'ignore'] }
  )
  watchdog.unref()
  if (watchdog.stdin instanceof Socket) watchdog.stdin.unref()

  try {
    await run(runner, [initdb, '-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'], root)
  } catch (err) {
    removeNow()
    process.removeListener('exit', removeNow)
    watchdog.stdin?.end()
    throw err
  }

  let port = 0
  let running = false
  const startOn = async (p: number): Promise<void> => {
    const options = [
      `-p ${p}`,
      `-k ${socketDir}`,
      '-h 127.0.0.1',
      // Durability is worthless for a test database; skipping it keeps writes cheap on a shared machine.
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c shared_buffers=16MB',
      '-c max_connections=50'
    ].join(' ')
    await run(runner, [pgCtl, 'start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options], root)
    running = true
  }

  // Another process may take the port between our probe and the server's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    try {
      await startOn(port)
      break
    } catch (err) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
      if (attempt < 5 && /could not (bind|create listen)/i.test(log)) continue
      removeNow()
      process.removeListener('exit', removeNow)
      watchdog.stdin?.end()
      throw new Error(`${(err as Error).message}\n${log}`)
    }
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  let closed = false

  return {
    url,
    port,
    async createDatabase(name) {
      if (!IDENTIFIER.test(name)) throw new Error(`database name ${JSON.stringify(name)} is not a simple identifier`)
      const sql = postgres(url, { max: 1, onnotice: () => {} })
      try {
        await sql.unsafe(`create database ${name}`)
      } finally {
        await sql.end({ timeout: 5 })
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    async stop() {
      if (!running) return
      await run(runner, [pgCtl, 'stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], root)
      running = false
    },
    async start() {
      if (running) return
      await startOn(port)
    },
    async close() {
      if (closed) return
      closed = true
      if (running) {
        await run(runner, [pgCtl, 'stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '60'], root).catch(() => {})
        running = false
      }
      removeNow()
      process.removeListener('exit', removeNow)
      watchdog.stdin?.end()
    }
  }
}
