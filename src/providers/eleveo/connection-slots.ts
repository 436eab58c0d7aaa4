/**
 * One slot per socket of the Eleveo pool, held from a request until its answer's body is closed. undici
 * queues a request beyond its connection limit without any deadline: with every socket pinned by a
 * listener who stopped reading, the next request waited forever. Waiting here has a deadline, so the
 * client gets a 503 instead of silence.
 */
export class ConnectionSlots {
  readonly size: number
  #free: number
  readonly #waiting = new Set<() => void>()

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`connection slots must be a positive integer, got ${size}`)
    this.size = size
    this.#free = size
  }

  /**
   * A free slot's release function now, or null when every slot is taken. The common case needs no
   * deadline, so the caller arms one (a timer and an AbortController) only when it has to wait.
   */
  tryAcquire(): (() => void) | null {
    if (this.#free === 0) return null
    this.#free--
    return this.#releaser()
  }

  /** Resolves with the slot's release function (safe to call more than once); rejects when `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted()
    if (this.#free > 0) {
      this.#free--
      return Promise.resolve(this.#releaser())
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort)
        resolve(this.#releaser())
      }
      const onAbort = (): void => {
        this.#waiting.delete(grant)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.add(grant)
    })
  }

  #releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      // Handed straight to the longest waiter (a Set iterates in insertion order), else freed.
      const next = this.#waiting.values().next()
      if (next.done === true) {
        this.#free++
      } else {
        this.#waiting.delete(next.value)
        next.value()
      }
    }
  }
}
