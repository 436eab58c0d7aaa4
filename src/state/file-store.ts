import { mkdir, open, readFile, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from './atomic-file.js'
import { Journal, JournalLineError, parseJournal } from './journal.js'
import { ARCHIVE_DIR, LedgerArchive } from './ledger-archive.js'
import { applyEvent, emptyModel, modelToSnapshot, ShapeError, snapshotToModel, toEvent, type StateEvent, type StateModel } from './model.js'
import type { FailedLeg, PendingCall, PushRunReport, PushStateView, Settlement, StateStore } from './types.js'

export const SNAPSHOT_FILE = 'push-state.json'
export const JOURNAL_FILE = 'push-state.journal'
export const LAST_RUN_FILE = 'push-last-run.json'

/** The state files cannot be trusted; start-up stops rather than silently starting over (and re-pushing). */
export class StateFileError extends Error {
  constructor(
    readonly file: string,
    detail: string
  ) {
    super(
      `State file ${file} is corrupt: ${detail}. The gateway will not start over silently (that would push links again): ` +
        'repair the file or move it away, then restart.'
    )
    this.name = 'StateFileError'
  }
}

export interface FileStateStoreOptions {
  /** Warnings at load (a torn journal tail). */
  readonly warn?: (msg: string, detail?: Record<string, unknown>) => void
  /** Compact during a run once the journal holds this many lines (bounds replay time after a crash). */
  readonly compactAfterLines?: number
}

/**
 * The embedded state store: a snapshot (`push-state.json`, replaced atomically) plus an append-only
 * journal (`push-state.journal`, one JSON event per line, fsync'd with group commit). Every accepted
 * leg costs one journal line instead of a rewrite of the whole state, and is durable before the next
 * message goes out. The journal is replayed over the snapshot at start-up and folded into it at every
 * checkpoint (start-up, end of each run).
 *
 * One process per STATE_DIR: several instances need the PostgreSQL store.
 */
export class FileStateStore implements StateStore {
  readonly kind = 'file'
  readonly #dir: string
  readonly #model: StateModel
  readonly #journal: Journal
  readonly #compactAfter: number
  readonly #archive: LedgerArchive
  #lastRun: PushRunReport | null

  private constructor(
    dir: string,
    model: StateModel,
    journal: Journal,
    archive: LedgerArchive,
    lastRun: PushRunReport | null,
    compactAfter: number
  ) {
    this.#dir = dir
    this.#model = model
    this.#journal = journal
    this.#archive = archive
    this.#lastRun = lastRun
    this.#compactAfter = compactAfter
  }

  static async open(dir: string, options: FileStateStoreOptions = {}): Promise<FileStateStore> {
    await mkdir(dir, { recursive: true })
    await removeStaleTemps(dir)
    const snapshotPath = join(dir, SNAPSHOT_FILE)
    const journalPath = join(dir, JOURNAL_FILE)

    const model = await readSnapshot(snapshotPath)
    const text = await readOptional(journalPath)
    if (text !== null) {
      let content
      try {
        content = parseJournal<StateEvent>(text, toEvent)
      } catch (err) {
        throw new StateFileError(journalPath, (err as Error).message)
      }
      for (const ev of content.events) applyEvent(model, ev)
      if (content.tornTail !== null) {
        options.warn?.('state journal ends with an incomplete line (the process was killed while writing it); ignoring it', {
          file: journalPath,
          bytes: Buffer.byteLength(content.tornTail)
        })
      }
    }
    const lastRun = await readLastRun(join(dir, LAST_RUN_FILE))
    const archive = await LedgerArchive.open(join(dir, ARCHIVE_DIR))

    // Fold the journal into a fresh snapshot before appending: this also cuts off a torn tail, which
    // new lines must never follow.
    await writeFileAtomic(snapshotPath, modelToSnapshot(model))
    const fh = await open(journalPath, 'a', 0o600)
    const journal = new Journal(fh, 0)
    const store = new FileStateStore(dir, model, journal, archive, lastRun, options.compactAfterLines ?? 100_000)
    await journal.exclusive(() => journal.truncate())
    return store
  }

  /** Journal fsyncs since open (diagnostics, bench). */
  get journalSyncs(): number {
    return this.#journal.syncs
  }

  async load(): Promise<PushStateView> {
    return { cursor: this.#model.cursor, pending: [...this.#model.pending.values()] }
  }

  async settled(legIds: readonly string[]): Promise<Map<string, Settlement>> {
    const out = new Map<string, Settlement>()
    for (const id of legIds) {
      if (this.#model.accepted.has(id)) out.set(id, 'accepted')
      else if (this.#model.failed.has(id)) out.set(id, 'failed')
      else if (this.#archive.has(id)) out.set(id, 'accepted')
    }
    return out
  }

  recordAccepted(legId: string, at: number): Promise<void> {
    return this.#write({ e: 'acc', leg: legId, at })
  }

  recordFailed(leg: FailedLeg): Promise<void> {
    return this.#write({ e: 'fail', leg: leg.legId, at: leg.at, reason: leg.reason })
  }

  upsertPending(call: PendingCall): Promise<void> {
    return this.#write({ e: 'pend', call })
  }

  removePending(dialogId: string): Promise<void> {
    if (!this.#model.pending.has(dialogId)) return Promise.resolve()
    return this.#write({ e: 'unpend', dialogId })
  }

  advanceCursor(to: number): Promise<void> {
    return this.#write({ e: 'cursor', to })
  }

  /**
   * Entries recorded before `before` leave the live ledger; accepted ones recorded since `forgetBefore`
   * move to the compact archive first (durably), so that backfills keep refusing them.
   */
  async prune(before: number, forgetBefore: number = before): Promise<number> {
    const leaving = [...this.#model.accepted].filter(([, at]) => at < before)
    await this.#archive.add(leaving.filter(([, at]) => at >= forgetBefore))
    await this.#archive.forget(forgetBefore)
    for (const [leg] of leaving) this.#model.accepted.delete(leg)
    let n = leaving.length
    for (const [leg, f] of this.#model.failed) {
      if (f.at < before) {
        this.#model.failed.delete(leg)
        n++
      }
    }
    // Pruning is not journaled: if we crash before the next checkpoint the entries come back, harmlessly.
    if (n > 0) await this.checkpoint()
    return n
  }

  checkpoint(): Promise<void> {
    return this.#journal.exclusive(async () => {
      await writeFileAtomic(join(this.#dir, SNAPSHOT_FILE), modelToSnapshot(this.#model))
      // Crash here: the journal replays over a snapshot that already holds it; events are idempotent.
      await this.#journal.truncate()
    })
  }

  async saveRunReport(report: PushRunReport): Promise<void> {
    this.#lastRun = report
    await writeFileAtomic(join(this.#dir, LAST_RUN_FILE), JSON.stringify(report))
  }

  async latestRunReport(): Promise<PushRunReport | null> {
    return this.#lastRun
  }

  /** Why this store can no longer write (a journal write failed: disk full, I/O error), or null. */
  get fault(): Error | null {
    return this.#journal.broken
  }

  async close(): Promise<void> {
    await this.checkpoint().catch(() => undefined)
    await this.#journal.close()
  }

  /** Closes without a last checkpoint: the directory may no longer be ours to write. */
  async abandon(): Promise<void> {
    await this.#journal.close()
  }

  /** Durable first, then visible: memory never claims what the disk does not hold. */
  async #write(ev: StateEvent): Promise<void> {
    await this.#journal.append(`${JSON.stringify(ev)}\n`, () => applyEvent(this.#model, ev))
    if (this.#journal.lines >= this.#compactAfter) void this.checkpoint().catch(() => undefined)
  }
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

async function readSnapshot(path: string): Promise<StateModel> {
  const text = await readOptional(path)
  if (text === null) return emptyModel()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new StateFileError(path, `not valid JSON (${(err as Error).message})`)
  }
  try {
    return snapshotToModel(json)
  } catch (err) {
    if (err instanceof ShapeError) throw new StateFileError(path, err.message)
    throw err
  }
}

/** The last run report is informational: an unreadable one is dropped, not fatal. */
async function readLastRun(path: string): Promise<PushRunReport | null> {
  const text = await readOptional(path)
  if (text === null) return null
  try {
    return JSON.parse(text) as PushRunReport
  } catch {
    return null
  }
}

async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.startsWith('.push-') && name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => undefined)
  }
}

export { JournalLineError }
