import type { FileHandle } from 'node:fs/promises'

/**
 * Append-only journal with group commit: lines queued while an fsync is under way go to disk together
 * in the next write + fsync, so CX_CONCURRENCY concurrent pushes share one fsync instead of paying one
 * each. A promise returned by `append` resolves only once its line is durable.
 *
 * `exclusive` runs a task (compaction) between batches, with no append in flight.
 */
export class Journal {
  readonly #fh: FileHandle
  #queue: Array<
    | { kind: 'line'; line: string; applied: () => void; resolve: () => void; reject: (e: unknown) => void }
    | { kind: 'task'; run: () => Promise<void>; resolve: () => void; reject: (e: unknown) => void }
  > = []
  #flushing = false
  #broken: Error | null = null
  #lines: number
  #syncs = 0

  constructor(fh: FileHandle, existingLines: number) {
    this.#fh = fh
    this.#lines = existingLines
  }

  /** fsyncs of appended lines so far (fewer than lines when group commit works). */
  get syncs(): number {
    return this.#syncs
  }

  /** The write that failed and made the journal refuse every later one, or null. */
  get broken(): Error | null {
    return this.#broken
  }

  /** Lines written since the journal was last emptied. */
  get lines(): number {
    return this.#lines
  }

  /**
   * `applied` runs synchronously once the line is durable, before any later exclusive task: a
   * compaction must see every event whose line it is about to truncate away.
   */
  append(line: string, applied: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ kind: 'line', line, applied, resolve, reject })
      this.#kick()
    })
  }

  exclusive(run: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ kind: 'task', run, resolve, reject })
      this.#kick()
    })
  }

  /** Empties the journal file (after its content went into a durable snapshot). Only inside `exclusive`. */
  async truncate(): Promise<void> {
    await this.#fh.truncate(0)
    await this.#fh.sync()
    this.#lines = 0
  }

  async close(): Promise<void> {
    await this.exclusive(async () => undefined).catch(() => undefined)
    await this.#fh.close()
  }

  #kick(): void {
    if (!this.#flushing) void this.#flush()
  }

  async #flush(): Promise<void> {
    this.#flushing = true
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0]!
        if (head.kind === 'task') {
          this.#queue.shift()
          if (this.#broken) {
            head.reject(this.#broken)
            continue
          }
          try {
            await head.run()
            head.resolve()
          } catch (err) {
            head.reject(err)
          }
          continue
        }
        let n = 0
        while (n < this.#queue.length && this.#queue[n]!.kind === 'line') n++
        const batch = this.#queue.splice(0, n) as Array<{
          kind: 'line'
          line: string
          applied: () => void
          resolve: () => void
          reject: (e: unknown) => void
        }>
        if (this.#broken) {
          for (const b of batch) b.reject(this.#broken)
          continue
        }
        try {
          await writeAll(this.#fh, batch.map((b) => b.line).join(''))
          await this.#fh.datasync()
          this.#syncs++
          this.#lines += batch.length
          for (const b of batch) {
            b.applied()
            b.resolve()
          }
        } catch (err) {
          // After a failed write the file's tail is unknown: refuse every later write rather than
          // acknowledging lines that may sit after garbage. A restart replays what is valid.
          this.#broken = new Error(`state journal write failed: ${(err as Error).message}`)
          for (const b of batch) b.reject(this.#broken)
        }
      }
    } finally {
      this.#flushing = false
    }
  }
}

async function writeAll(fh: FileHandle, text: string): Promise<void> {
  let buf = Buffer.from(text, 'utf8')
  while (buf.length > 0) {
    const { bytesWritten } = await fh.write(buf, 0, buf.length, null)
    buf = buf.subarray(bytesWritten)
  }
}

export interface JournalContent<T> {
  readonly events: T[]
  /** Number of complete lines. */
  readonly lines: number
  /** A last line cut short by a crash mid-write (ignored), or null. */
  readonly tornTail: string | null
}

/**
 * Parses journal text. Only the last line may be incomplete (a kill during its write: it has no
 * newline and is not valid JSON) and is then ignored; anything else unreadable is corruption and throws
 * with its line number.
 */
export function parseJournal<T>(text: string, toEvent: (v: unknown) => T): JournalContent<T> {
  const events: T[] = []
  const parts = text.split('\n')
  // With a trailing newline the last part is '' (no tail); otherwise it is an unterminated last line.
  const tail = parts.pop() ?? ''
  parts.forEach((line, i) => {
    events.push(parseLine(line, i + 1, toEvent))
  })
  let tornTail: string | null = null
  if (tail !== '') {
    let v: unknown
    let complete = true
    try {
      v = JSON.parse(tail)
    } catch {
      complete = false
      tornTail = tail
    }
    // A complete JSON line that merely lacks its newline was written whole; a wrong shape is corruption.
    if (complete) events.push(parseLine(tail, parts.length + 1, () => toEvent(v)))
  }
  return { events, lines: parts.length, tornTail }
}

export class JournalLineError extends Error {
  constructor(
    readonly line: number,
    message: string
  ) {
    super(`line ${line}: ${message}`)
  }
}

function parseLine<T>(line: string, n: number, toEvent: (v: unknown) => T): T {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch (err) {
    throw new JournalLineError(n, `not valid JSON (${(err as Error).message})`)
  }
  try {
    return toEvent(v)
  } catch (err) {
    throw new JournalLineError(n, (err as Error).message)
  }
}
