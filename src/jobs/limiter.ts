/**
 * At most `max` tasks at a time; the others wait in order. A waiter whose signal aborts leaves the
 * queue with the signal's reason, so an aborted run does not start another message.
 */
export class Limiter {
  readonly #max: number
  #active = 0
  readonly #waiting: Array<() => void> = []

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`limiter size must be a positive integer, got ${max}`)
    this.#max = max
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal)
    try {
      return await task()
    } finally {
      this.#release()
    }
  }

  #acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.#active < this.#max) {
      this.#active++
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort)
        this.#active++
        resolve()
      }
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(grant)
        if (i >= 0) this.#waiting.splice(i, 1)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(grant)
    })
  }

  #release(): void {
    this.#active--
    this.#waiting.shift()?.()
  }
}

/**
 * Runs `fn` over `items` with `workers` concurrent workers. The first error stops the workers from
 * taking new items (and is passed to `onError`, e.g. to abort the ones in flight); it is thrown once
 * every worker has finished.
 */
export async function forEachConcurrent<T>(
  items: Iterable<T>,
  workers: number,
  fn: (item: T) => Promise<void>,
  onError?: (err: unknown) => void
): Promise<void> {
  const it = items[Symbol.iterator]()
  let failure: { err: unknown } | null = null
  const worker = async (): Promise<void> => {
    while (failure === null) {
      const next = it.next()
      if (next.done) return
      try {
        await fn(next.value)
      } catch (err) {
        if (failure === null) {
          failure = { err }
          onError?.(err)
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, workers) }, worker))
  if (failure !== null) throw (failure as { err: unknown }).err
}
