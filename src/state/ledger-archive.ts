import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from './atomic-file.js'

export const ARCHIVE_DIR = 'ledger-archive'
const HASH_BYTES = 8
const DAY_MS = 86_400_000
const DAY_FILE = /^(\d+)\.bin$/

/** The first 8 bytes of SHA-256(legId): with 10 million legs kept, a false "already pushed" is a 1 in 10^12 chance. */
function legHash(legId: string): Buffer {
  return createHash('sha256').update(legId, 'utf8').digest().subarray(0, HASH_BYTES)
}

/**
 * What CX accepted, remembered after it left the live ledger (PENDING_MAX_AGE_S) for as long as the
 * operator wants backfills to be refused (LEDGER_RETENTION_DAYS): 8 bytes per leg, in one file per UTC
 * day of acceptance (`ledger-archive/<day number>.bin`, sorted hashes, replaced atomically), so that
 * forgetting a day is deleting a file and only the days that changed are written.
 */
export class LedgerArchive {
  readonly #dir: string
  /** Day number → sorted concatenated hashes. */
  readonly #days: Map<number, Buffer>

  private constructor(dir: string, days: Map<number, Buffer>) {
    this.#dir = dir
    this.#days = days
  }

  static async open(dir: string): Promise<LedgerArchive> {
    const days = new Map<number, Buffer>()
    // Created by the first `add`: a gateway that never archived leaves STATE_DIR as it always was.
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return []
      throw err
    })
    for (const name of names) {
      const m = DAY_FILE.exec(name)
      if (m === null) continue
      const bytes = await readFile(join(dir, name))
      // A file cut short cannot come from the atomic write; keep its whole hashes rather than fail.
      days.set(Number(m[1]), bytes.subarray(0, bytes.length - (bytes.length % HASH_BYTES)))
    }
    return new LedgerArchive(dir, days)
  }

  /** Legs remembered, over all days. */
  get size(): number {
    let n = 0
    for (const b of this.#days.values()) n += b.length / HASH_BYTES
    return n
  }

  has(legId: string): boolean {
    const h = legHash(legId)
    for (const sorted of this.#days.values()) if (contains(sorted, h)) return true
    return false
  }

  /** Remembers accepted legs (legId, epoch ms accepted); durable when it resolves. */
  async add(entries: Iterable<readonly [string, number]>): Promise<void> {
    const byDay = new Map<number, Buffer[]>()
    for (const [legId, at] of entries) {
      const day = Math.floor(at / DAY_MS)
      let list = byDay.get(day)
      if (list === undefined) byDay.set(day, (list = []))
      list.push(legHash(legId))
    }
    if (byDay.size > 0) await mkdir(this.#dir, { recursive: true })
    for (const [day, added] of byDay) {
      const merged = sortUnique([...split(this.#days.get(day)), ...added])
      await writeFileAtomic(join(this.#dir, `${day}.bin`), merged)
      this.#days.set(day, merged)
    }
  }

  /** Forgets the days that ended before `before` (epoch ms). */
  async forget(before: number): Promise<void> {
    for (const day of [...this.#days.keys()]) {
      if ((day + 1) * DAY_MS > before) continue
      await unlink(join(this.#dir, `${day}.bin`)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
      this.#days.delete(day)
    }
  }
}

function split(sorted: Buffer | undefined): Buffer[] {
  const out: Buffer[] = []
  if (sorted === undefined) return out
  for (let i = 0; i < sorted.length; i += HASH_BYTES) out.push(sorted.subarray(i, i + HASH_BYTES))
  return out
}

function sortUnique(hashes: Buffer[]): Buffer {
  hashes.sort((a, b) => Buffer.compare(a, b))
  const kept = hashes.filter((h, i) => i === 0 || !h.equals(hashes[i - 1]!))
  return Buffer.concat(kept)
}

function contains(sorted: Buffer, h: Buffer): boolean {
  let lo = 0
  let hi = sorted.length / HASH_BYTES - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const c = sorted.compare(h, 0, HASH_BYTES, mid * HASH_BYTES, (mid + 1) * HASH_BYTES)
    if (c === 0) return true
    if (c < 0) lo = mid + 1
    else hi = mid - 1
  }
  return false
}
