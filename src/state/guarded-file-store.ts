import type { Lease, Leadership } from './leadership.js'
import { DirLock } from './dir-lock.js'
import { FileStateStore, StateFileError } from './file-store.js'
import type { FailedLeg, PendingCall, PushRunReport, PushStateView, Settlement, StateStore } from './types.js'

/** The file state cannot be used right now (disk full, read-only, I/O error); the push job says so and tries again next run. */
export class StateUnavailableError extends Error {
  override readonly name = 'StateUnavailableError'
  constructor(dir: string, cause: unknown) {
    super(`push state store in STATE_DIR ${dir} is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}

export interface GuardedFileStoreOptions {
  readonly dir: string
  readonly instanceId: string
  /** STATE_DIR_LOCK_STALE_S in ms: how long an untouched lock file keeps another gateway out. */
  readonly lockStaleMs: number
  readonly warn?: (msg: string, detail?: Record<string, unknown>) => void
}

/**
 * The file store as the service runs it: only under an exclusive lock on STATE_DIR (two gateways on one
 * directory would rewrite each other's files), and without making the service depend on it. Start-up
 * does not fail when the lock is held elsewhere or the disk is full: recordings are served all the same,
 * and every push run tries again (lock first, then the state files) and fails with the reason until it
 * works. A store whose journal broke (a write failed) is reopened from disk at the next run; a corrupt
 * state file still stops start-up with its name, as it always did.
 *
 * It is also the push job's Leadership in file mode: a lease is the lock, lost if another gateway took
 * the lock over (this one was frozen for longer than the stale time).
 */
export class GuardedFileStore implements StateStore, Leadership {
  readonly kind = 'file'
  readonly #o: GuardedFileStoreOptions
  /** What earlier lock attempts saw of another holder's lock file (to tell a stale one). */
  readonly #sighting = {}
  #lock: DirLock | null = null
  #store: FileStateStore | null = null
  #opening: Promise<FileStateStore> | null = null
  #lastRun: PushRunReport | null = null

  constructor(options: GuardedFileStoreOptions) {
    this.#o = options
  }

  /** Takes the lock; throws StateDirLockedError (naming STATE_DATABASE_URL) while another gateway holds it. */
  async acquire(): Promise<Lease> {
    const lock = await this.#takeLock()
    return { signal: lock.lost, release: async () => undefined }
  }

  /** The start of every run: the state, opened (again) if it is not usable. */
  async load(): Promise<PushStateView> {
    return (await this.#ready()).load()
  }

  async settled(legIds: readonly string[]): Promise<Map<string, Settlement>> {
    return this.#current().settled(legIds)
  }

  async recordAccepted(legId: string, at: number): Promise<void> {
    await this.#current().recordAccepted(legId, at)
  }

  async recordFailed(leg: FailedLeg): Promise<void> {
    await this.#current().recordFailed(leg)
  }

  async upsertPending(call: PendingCall): Promise<void> {
    await this.#current().upsertPending(call)
  }

  async removePending(dialogId: string): Promise<void> {
    await this.#current().removePending(dialogId)
  }

  async advanceCursor(to: number): Promise<void> {
    await this.#current().advanceCursor(to)
  }

  async prune(before: number, forgetBefore?: number): Promise<number> {
    return this.#current().prune(before, forgetBefore)
  }

  async checkpoint(): Promise<void> {
    await this.#current().checkpoint()
  }

  /** Kept in memory too: the report of a run that failed for want of state is the one to show. */
  async saveRunReport(report: PushRunReport): Promise<void> {
    this.#lastRun = report
    await this.#current().saveRunReport(report)
  }

  async latestRunReport(): Promise<PushRunReport | null> {
    return this.#lastRun ?? (await this.#store?.latestRunReport()) ?? null
  }

  async close(): Promise<void> {
    const store = this.#store
    this.#store = null
    if (store !== null) {
      if (this.#lock?.lost.aborted === false) await store.close()
      else await store.abandon()
    }
    await this.#lock?.release()
    this.#lock = null
  }

  async #takeLock(): Promise<DirLock> {
    if (this.#lock !== null && !this.#lock.lost.aborted) return this.#lock
    if (this.#lock !== null) {
      // Another gateway took the directory over: what we hold in memory is not the state any more.
      this.#o.warn?.('the STATE_DIR lock was lost; the push state will be read again once it is retaken', {
        reason: (this.#lock.lost.reason as Error).message
      })
      const stale = this.#store
      this.#store = null
      this.#lock = null
      await stale?.abandon().catch(() => undefined)
    }
    this.#lock = await DirLock.acquire(this.#o.dir, { instanceId: this.#o.instanceId, staleMs: this.#o.lockStaleMs }, this.#sighting)
    return this.#lock
  }

  async #ready(): Promise<FileStateStore> {
    await this.#takeLock()
    const current = this.#store
    if (current !== null && current.fault === null) return current
    if (current !== null) {
      // A write failed earlier (disk full...): what is durable is on disk, so read it again from there.
      this.#store = null
      await current.abandon().catch(() => undefined)
    }
    this.#opening ??= FileStateStore.open(this.#o.dir, this.#o.warn ? { warn: this.#o.warn } : {}).finally(() => {
      this.#opening = null
    })
    try {
      this.#store = await this.#opening
    } catch (err) {
      if (err instanceof StateFileError) throw err
      throw new StateUnavailableError(this.#o.dir, err)
    }
    return this.#store
  }

  #current(): FileStateStore {
    const store = this.#store
    if (store === null) throw new StateUnavailableError(this.#o.dir, 'not open')
    return store
  }
}
