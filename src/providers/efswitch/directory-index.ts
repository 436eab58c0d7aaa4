import type { Dir } from 'node:fs'
import { opendir, stat } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'
import { errorCode } from '../../errors.js'
import { fileSystemError } from './fs-errors.js'
import { dialogKey, dialogKeyOfFileName } from './recording-file-name.js'

/*
 * The switch writes every call of a day into one directory (`.../archive/2026/Dec/01`): 10,000–100,000
 * names. Listing it for every request and every pushed call would read the whole directory thousands of
 * times, so each directory is listed once into an index of its names grouped by dialogId, and listed
 * again only when it may have changed.
 *
 * "May have changed" is told by the directory's mtime, which every create, rename or delete in it
 * moves: a look-up stats the directory (microseconds) and lists it again when the mtime moved, unless
 * the last listing is younger than twice its own duration (so a directory that changes all the time is
 * listed at most a third of the time, and a small one at once). A timestamp is only as fine as the file
 * system keeps it (ext4, xfs, tmpfs: nanoseconds from a clock that ticks every few ms; some network file
 * systems: a second), so a file created in the same tick as our listing started can leave the mtime as
 * it was. A listing is therefore trusted on an unchanged mtime for good only once it started at least
 * MTIME_GRANULARITY_MS after that mtime; before that, for REUSE_MS, and then it is taken again.
 *
 * Together: a look-up sees every file that existed half a second before it (every file, when the
 * directory is small or quiet), unless it waits for a listing that takes longer than that; yesterday's
 * directory is listed once.
 */

/** The coarsest mtime granularity allowed for (a second: ext3, HFS+, many network file systems). */
export const MTIME_GRANULARITY_MS = 1_000
/** The longest a listing is reused without being sure it is complete (see above): half a second. */
export const REUSE_MS = 500
/** Entries fetched per read of the directory: fewer round trips to the thread pool than the default 32. */
const READ_BATCH = 4_096

export interface DirectoryListing {
  /**
   * File names that can be recordings, by dialogKey (the dialogId lower-cased). Most calls have one
   * file in a day directory: that name is stored as is, an array only for two or more (less memory).
   */
  readonly groups: ReadonlyMap<string, string | readonly string[]>
  readonly names: number
  /** The directory's mtime as seen just before the listing started (NaN when it does not exist). */
  readonly mtimeMs: number
  /** Date.now() when the listing started. */
  readonly startedAt: number
  /** How long the listing took. */
  readonly durationMs: number
}

export interface ListingReport {
  readonly dir: string
  readonly names: number
  readonly durationMs: number
  /** False when the directory holds more names than the whole index may (EFSWITCH_INDEX_MAX_ENTRIES). */
  readonly kept: boolean
}

export interface DirectoryIndexOptions {
  /** Names kept over all directories; the least recently used directories are dropped first. 0: none. */
  readonly maxEntries: number
  /** Called after every listing (logs, metrics, tests counting listings). */
  readonly onListing?: (report: ListingReport) => void
}

const EMPTY: ReadonlyMap<string, string | readonly string[]> = new Map()

/** Waits for `work` but gives up when `signal` aborts; the work itself goes on for its other waiters. */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work
  signal.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * Day directories' file names grouped by dialogId: one streaming listing per directory and change,
 * shared by concurrent look-ups, kept in an LRU bounded by the total number of names.
 */
export class DirectoryIndex {
  readonly #cache: LRUCache<string, DirectoryListing> | null
  readonly #listing = new Map<string, Promise<DirectoryListing>>()
  readonly #onListing: ((report: ListingReport) => void) | undefined
  readonly #maxEntries: number

  constructor(options: DirectoryIndexOptions) {
    this.#maxEntries = options.maxEntries
    this.#onListing = options.onListing
    this.#cache =
      options.maxEntries > 0
        ? new LRUCache<string, DirectoryListing>({ maxSize: options.maxEntries, sizeCalculation: (l) => Math.max(1, l.names) })
        : null
  }

  /** Names in `dir` (a real path inside the recordings root) whose dialogId is `dialogId`, any case. */
  async namesOf(dir: string, dialogId: string, signal?: AbortSignal): Promise<readonly string[]> {
    const listing = await unlessAborted(this.#current(dir), signal)
    const names = listing.groups.get(dialogKey(dialogId))
    return names === undefined ? [] : typeof names === 'string' ? [names] : names
  }

  /** Names held over all directories (what EFSWITCH_INDEX_MAX_ENTRIES bounds). */
  get size(): number {
    return this.#cache?.calculatedSize ?? 0
  }

  async #current(dir: string): Promise<DirectoryListing> {
    // A listing under way started before this look-up: it holds every file older than itself.
    const running = this.#listing.get(dir)
    if (running !== undefined) return running
    const cached = this.#cache?.get(dir)
    let mtimeMs: number
    try {
      mtimeMs = (await stat(dir)).mtimeMs
    } catch (err) {
      const code = errorCode(err)
      // Gone (a day directory removed by retention): nothing in it, and nothing worth keeping.
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        this.#cache?.delete(dir)
        return { groups: EMPTY, names: 0, mtimeMs: Number.NaN, startedAt: Date.now(), durationMs: 0 }
      }
      throw fileSystemError('cannot read the recordings directory', err)
    }
    if (cached !== undefined) {
      const age = Date.now() - cached.startedAt
      if (cached.mtimeMs === mtimeMs) {
        if (cached.startedAt - mtimeMs >= MTIME_GRANULARITY_MS || age < REUSE_MS) return cached
      } else if (age < Math.min(2 * cached.durationMs, REUSE_MS)) {
        // Changed, but listed so recently that listing again now would list most of the time.
        return cached
      }
    }
    // Another look-up may have started the listing while this one was in stat().
    const started = this.#listing.get(dir)
    if (started !== undefined) return started
    const listing = this.#list(dir, mtimeMs).finally(() => this.#listing.delete(dir))
    this.#listing.set(dir, listing)
    return listing
  }

  async #list(dir: string, mtimeMs: number): Promise<DirectoryListing> {
    const startedAt = Date.now()
    const groups = new Map<string, string | string[]>()
    let names = 0
    let handle: Dir | undefined
    try {
      // Streaming, one batch of entries per read: memory grows with the names kept, never with a
      // buffered array of every entry. (A `for await` over the Dir costs a generator step per entry,
      // half again the time of the listing.)
      handle = await opendir(dir, { bufferSize: READ_BATCH })
      for (let entry = await handle.read(); entry !== null; entry = await handle.read()) {
        const key = dialogKeyOfFileName(entry.name)
        if (key === null) continue
        const group = groups.get(key)
        if (group === undefined) groups.set(key, entry.name)
        else if (typeof group === 'string') groups.set(key, [group, entry.name])
        else group.push(entry.name)
        names++
      }
    } catch (err) {
      const code = errorCode(err)
      if (code === 'ENOENT' || code === 'ENOTDIR') return { groups: EMPTY, names: 0, mtimeMs: Number.NaN, startedAt, durationMs: 0 }
      throw fileSystemError('cannot list the recordings directory', err)
    } finally {
      await handle?.close().catch(() => {})
    }
    const durationMs = Date.now() - startedAt
    const listing: DirectoryListing = { groups, names, mtimeMs, startedAt, durationMs }
    const kept = names <= this.#maxEntries
    if (kept) this.#cache?.set(dir, listing)
    else this.#cache?.delete(dir)
    this.#onListing?.({ dir, names, durationMs, kept })
    return listing
  }
}
