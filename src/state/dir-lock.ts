import { randomUUID } from 'node:crypto'
import { readFileSync, readlinkSync } from 'node:fs'
import { mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'

export const LOCK_FILE = 'push-state.lock'

/** Another gateway holds STATE_DIR: this one must not touch the state files. */
export class StateDirLockedError extends Error {
  override readonly name = 'StateDirLockedError'
  constructor(dir: string, holder: string) {
    super(
      `STATE_DIR ${dir} is in use by another gateway (${holder}); one STATE_DIR serves one gateway process. ` +
        'To run several instances, set STATE_DATABASE_URL on all of them (or give each its own STATE_DIR)'
    )
  }
}

export interface DirLockOptions {
  /** Written into the lock file so that the refusal names the holder. */
  readonly instanceId: string
  /** A lock whose file has not been touched for this long, by our clock, is abandoned. */
  readonly staleMs: number
}

/** Who holds a lock, as written in its file: enough to tell, on the same host, that the holder is gone. */
interface Holder {
  readonly instance: string
  readonly host: string
  /** The kernel's boot id: the same host after a reboot is another boot. */
  readonly boot: string
  /** The pid namespace (/proc/self/ns/pid): each container has its own, and pid 1 in each. */
  readonly pidNs: string
  readonly pid: number
  readonly since: string
}

function quietly(read: () => string): string {
  try {
    return read().trim()
  } catch {
    return ''
  }
}

function me(instance: string): Holder {
  return {
    instance,
    host: hostname(),
    boot: quietly(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidNs: quietly(() => readlinkSync('/proc/self/ns/pid')),
    pid: process.pid,
    since: new Date().toISOString()
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * True when the holder is certainly gone, without waiting for its lock to go stale: it ran on this host
 * (same host name) before a reboot, or in another pid namespace (the previous run of this container:
 * a restarted container gets a new namespace, and pid 1 again), or in ours under a pid that no longer
 * exists (a `kill -9` outside containers). Host names must differ between gateways sharing a STATE_DIR,
 * as they do between Kubernetes pods and Docker containers by default.
 */
function holderIsGone(holder: Holder | null, self: Holder): boolean {
  if (holder === null || holder.host !== self.host) return false
  if (holder.boot !== self.boot) return true
  if (holder.pidNs !== self.pidNs) return true
  return !isAlive(holder.pid)
}

function parseHolder(text: string): Holder | null {
  try {
    const h = JSON.parse(text) as Partial<Holder>
    if (typeof h.host !== 'string' || typeof h.pid !== 'number' || typeof h.boot !== 'string' || typeof h.pidNs !== 'string') return null
    return { instance: String(h.instance), host: h.host, boot: h.boot, pidNs: h.pidNs, pid: h.pid, since: String(h.since) }
  } catch {
    return null
  }
}

/** What the last look at someone else's lock file saw: staleness is measured by our clock, not theirs. */
interface Sighting {
  readonly ino: number
  readonly mtimeMs: number
  readonly since: number
}

/**
 * An exclusive lock on a state directory, for processes that may share it (a shared volume, a second
 * replica): a lock file created with O_EXCL whose modification time the holder refreshes (heartbeat)
 * every staleMs / 4. Liveness does not rest on process ids, which are 1 in every container, nor on the
 * holders agreeing on the time: a lock is stale when its file's mtime has not changed for staleMs as
 * measured by the process that wants it (so that process waits staleMs after first seeing it). A holder
 * that is certainly gone (see `holderIsGone`: a restart on the same host) is replaced at once.
 *
 * Taking over a stale lock renames a fresh file over it; the holder is identified by the file's inode,
 * so the old holder, if it was only frozen, sees at its next heartbeat that the file is no longer its
 * own and reports the loss (`lost` aborts). The file is empty unless there is room to say who holds it:
 * a full disk still allows the lock.
 */
export class DirLock {
  readonly #path: string
  readonly #ino: number
  readonly #timer: NodeJS.Timeout
  readonly #lost = new AbortController()

  private constructor(path: string, ino: number, staleMs: number) {
    this.#path = path
    this.#ino = ino
    this.#timer = setInterval(() => void this.#beat(), Math.max(250, Math.floor(staleMs / 4)))
    this.#timer.unref()
  }

  /** Aborts when the lock was taken over or its file removed: stop writing state at once. */
  get lost(): AbortSignal {
    return this.#lost.signal
  }

  /**
   * Takes the lock of `dir` (created if missing), or throws StateDirLockedError. `seen` carries what an
   * earlier attempt saw of the other holder's file, so repeated attempts can tell a stale lock.
   */
  static async acquire(dir: string, opts: DirLockOptions, seen: { last?: Sighting } = {}): Promise<DirLock> {
    await mkdir(dir, { recursive: true })
    const path = join(dir, LOCK_FILE)
    const self = me(opts.instanceId)
    const content = JSON.stringify(self)
    try {
      return new DirLock(path, await create(path, 'wx', content), opts.staleMs)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const st = await stat(path).catch(() => null)
    const now = Date.now()
    if (st !== null) {
      const holder = parseHolder(await readFile(path, 'utf8').catch(() => ''))
      const last = seen.last
      const unchanged = last !== undefined && last.ino === st.ino && last.mtimeMs === st.mtimeMs
      if (!unchanged) seen.last = { ino: st.ino, mtimeMs: st.mtimeMs, since: now }
      const stale = unchanged && now - last.since >= opts.staleMs
      if (!stale && !holderIsGone(holder, self)) {
        const who = holder === null ? 'holder unknown' : `instance ${holder.instance} on ${holder.host}, pid ${holder.pid}, since ${holder.since}`
        throw new StateDirLockedError(dir, `${who}; lock file ${path}`)
      }
    }
    // Stale, its holder gone (or the file gone meanwhile): a fresh file replaces it in one step.
    const tmp = join(dir, `.${LOCK_FILE}.${randomUUID()}.tmp`)
    const ino = await create(tmp, 'w', content)
    await rename(tmp, path)
    seen.last = undefined
    return new DirLock(path, ino, opts.staleMs)
  }

  async release(): Promise<void> {
    clearInterval(this.#timer)
    if (this.#lost.signal.aborted) return
    this.#lost.abort(new Error('the STATE_DIR lock was released'))
    // Only our own file: after a takeover the path belongs to the new holder.
    if ((await stat(this.#path).catch(() => null))?.ino === this.#ino) await unlink(this.#path).catch(() => undefined)
  }

  async #beat(): Promise<void> {
    if (this.#lost.signal.aborted) return
    const st = await stat(this.#path).catch(() => null)
    if (st === null || st.ino !== this.#ino) {
      clearInterval(this.#timer)
      this.#lost.abort(new Error(`the STATE_DIR lock ${this.#path} was taken over by another gateway (ours had not been refreshed in time)`))
      return
    }
    const now = new Date()
    await utimes(this.#path, now, now).catch(() => undefined)
  }
}

/** Creates the lock file and returns its inode; who holds it is written only if the disk has room. */
async function create(path: string, flags: 'wx' | 'w', holder: string): Promise<number> {
  const fh = await open(path, flags, 0o600)
  try {
    await fh.writeFile(holder).catch(() => undefined)
    return (await fh.stat()).ino
  } finally {
    await fh.close()
  }
}
