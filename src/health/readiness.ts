import { performance } from 'node:perf_hooks'
import { AsyncTask, SimpleIntervalJob, ToadScheduler } from 'toad-scheduler'
import { redactUrl } from '../auth/redact.js'
import { TimedAbort } from '../http/timed-abort.js'

/** One readiness check: resolves when the dependency is usable, throws (or rejects) with the reason when not. */
export type ReadinessCheck = (signal: AbortSignal) => Promise<unknown>

export interface CheckResult {
  status: 'ok' | 'failing' | 'pending'
  /** ISO time the last run of this check ended. */
  checkedAt?: string
  durationMs?: number
  /** Why it fails (a message fit for an operator; credentials in URLs are masked). */
  error?: string
}

export type ReadinessStatus = 'ok' | 'starting' | 'unavailable' | 'shutting_down'

export interface ReadinessReport {
  status: ReadinessStatus
  checks: Record<string, CheckResult>
}

export interface ReadinessOptions {
  intervalMs: number
  /** How long one check may take before it counts as failing. Default: the interval, at least 2 s. */
  timeoutMs?: number
  onChange?: (name: string, result: CheckResult) => void
}

/**
 * The checks `/health/ready` reports on. They run in the background, all at once, every interval; a
 * probe only reads their last results, so a load balancer probing often costs the vendor nothing and a
 * slow vendor never makes a probe slow. Other plugins add their own checks (`app.readiness.add`).
 */
export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>()
  readonly #results = new Map<string, CheckResult>()
  readonly #live = new Map<string, () => CheckResult>()
  readonly #intervalMs: number
  readonly #timeoutMs: number
  readonly #onChange: ((name: string, result: CheckResult) => void) | undefined
  readonly #scheduler = new ToadScheduler()
  #running: Promise<void> | null = null
  readonly #stop = new AbortController()
  #started = false
  #shuttingDown = false

  constructor(opts: ReadinessOptions) {
    this.#intervalMs = opts.intervalMs
    this.#timeoutMs = opts.timeoutMs ?? Math.max(opts.intervalMs, 2000)
    this.#onChange = opts.onChange
  }

  /** Adds a background check. Names are unique; the probe is 503 'starting' until every check ran once. */
  add(name: string, check: ReadinessCheck): void {
    if (this.#checks.has(name) || this.#live.has(name)) throw new Error(`readiness check "${name}" is already registered`)
    this.#checks.set(name, check)
    this.#results.set(name, { status: 'pending' })
    // Added after start: run it now rather than leave the service 'starting' for a whole interval.
    if (this.#started && !this.#shuttingDown) void this.#runOne(name, check, this.#stop.signal)
  }

  /** Adds a check evaluated on every probe; it must be instant (no I/O), e.g. a memory figure. */
  addLive(name: string, evaluate: () => CheckResult): void {
    if (this.#checks.has(name) || this.#live.has(name)) throw new Error(`readiness check "${name}" is already registered`)
    this.#live.set(name, evaluate)
  }

  /** Runs every background check now; concurrent callers share the run. */
  refresh(): Promise<void> {
    if (this.#running) return this.#running
    const signal = this.#stop.signal
    const run = Promise.all([...this.#checks].map(([name, check]) => this.#runOne(name, check, signal))).then(() => undefined)
    this.#running = run.finally(() => {
      this.#running = null
    })
    return this.#running
  }

  /**
   * Starts the background runs on toad-scheduler (the service's one scheduler): one now, then one every
   * interval; a tick that finds the previous run still going is skipped. Stopped by shutDown().
   */
  start(): void {
    if (this.#started) return
    this.#started = true
    // refresh() never rejects: each check's failure is its result.
    const task = new AsyncTask('readiness', () => this.refresh())
    this.#scheduler.addSimpleIntervalJob(
      new SimpleIntervalJob({ milliseconds: this.#intervalMs, runImmediately: true }, task, { id: 'readiness', preventOverrun: true })
    )
  }

  /** From now on the probe answers 503 'shutting_down' (load balancers drain); the loop stops. */
  shutDown(): void {
    this.#shuttingDown = true
    this.#scheduler.stop()
    this.#stop.abort(new Error('the gateway is shutting down'))
  }

  report(): ReadinessReport {
    const checks: Record<string, CheckResult> = {}
    for (const [name, result] of this.#results) checks[name] = { ...result }
    for (const [name, evaluate] of this.#live) checks[name] = evaluate()
    const all = Object.values(checks)
    let status: ReadinessStatus = 'ok'
    if (this.#shuttingDown) status = 'shutting_down'
    else if (all.some((c) => c.status === 'failing')) status = 'unavailable'
    else if (all.some((c) => c.status === 'pending')) status = 'starting'
    return { status, checks }
  }

  async #runOne(name: string, check: ReadinessCheck, stop: AbortSignal): Promise<void> {
    const started = performance.now()
    // A deadline held by the check (see TimedAbort): with AbortSignal.timeout() inside AbortSignal.any()
    // a hanging vendor left the last result standing on Node 20, the timeout signal collected unfired.
    const deadline = new TimedAbort(stop, this.#timeoutMs, () => new Error(`no answer within ${this.#timeoutMs} ms`))
    const signal = deadline.signal
    let error: string | null = null
    try {
      // Raced against the signal: a check that ignores its signal still cannot hold the result back.
      await Promise.race([
        Promise.resolve().then(() => check(signal)),
        new Promise<never>((_resolve, reject) => {
          const fail = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)))
          if (signal.aborted) fail()
          else signal.addEventListener('abort', fail, { once: true })
        })
      ])
    } catch (err) {
      error = redactUrl(err instanceof Error ? err.message : String(err)) || 'failed'
    } finally {
      deadline.dispose()
    }
    if (stop.aborted) return
    const previous = this.#results.get(name)
    const result: CheckResult = {
      status: error === null ? 'ok' : 'failing',
      checkedAt: new Date().toISOString(),
      durationMs: Math.round(performance.now() - started)
    }
    if (error !== null) result.error = error
    this.#results.set(name, result)
    if (previous?.status !== result.status || previous.error !== result.error) this.#onChange?.(name, result)
  }
}
