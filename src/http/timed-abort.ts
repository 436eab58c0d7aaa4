/**
 * An AbortSignal that aborts when `outer` does (with its reason) or when `ms` have passed (with
 * `reason()`). The timer is held here and cleared by `stopTimer`/`dispose`, never left to
 * AbortSignal.timeout(): on Node 20 a timeout signal that only an AbortSignal.any() composite refers to
 * can be garbage-collected before it fires, and the deadline then silently never comes.
 */
export class TimedAbort {
  readonly #controller = new AbortController()
  readonly #outer: AbortSignal | undefined
  readonly #onOuterAbort = (): void => this.#controller.abort(this.#outer?.reason)
  #timer: NodeJS.Timeout | null
  #expired = false

  constructor(outer: AbortSignal | undefined, ms: number, reason: () => Error) {
    this.#outer = outer
    this.#timer = setTimeout(() => {
      this.#expired = true
      this.#controller.abort(reason())
    }, ms)
    // A deadline is no reason to keep the process alive.
    this.#timer.unref()
    if (outer?.aborted) this.#onOuterAbort()
    else outer?.addEventListener('abort', this.#onOuterAbort, { once: true })
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** True once the deadline (not the outer signal) aborted the signal. */
  get expired(): boolean {
    return this.#expired
  }

  /** The deadline no longer applies; the outer signal still aborts this one. */
  stopTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Done: no timer, and no listener left on the outer signal. */
  dispose(): void {
    this.stopTimer()
    this.#outer?.removeEventListener('abort', this.#onOuterAbort)
  }
}
