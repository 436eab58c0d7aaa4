import { randomUUID } from 'node:crypto'
import type { TimeWindow } from '../cx/types.js'
import type { PushRunReport, RunTrigger } from '../state/types.js'
import { soleInstance, type Leadership } from '../state/leadership.js'
import { runPushJob, type PushJobDeps } from './push-links.js'
import { RunTally } from './tally.js'

export interface PushRunnerDeps extends PushJobDeps {
  readonly instanceId: string
  readonly leadership?: Leadership
}

/** How taking the push lease went: this instance runs, another instance runs, or the lock could not be asked for. */
export type LeaseOutcome = 'held' | 'elsewhere' | 'failed'

export interface StartedRun {
  readonly id: string
  readonly trigger: RunTrigger
  /** Settles with the final report (never rejects). Null when another instance leads and nothing ran. */
  readonly done: Promise<PushRunReport | null>
  /** Settles as soon as leadership is decided, long before `done` (never rejects). */
  readonly lease: Promise<LeaseOutcome>
}

/** Another run is under way; carries its id so a client can follow it. */
export class RunInProgressError extends Error {
  constructor(readonly runId: string) {
    super(`a push run is already in progress: ${runId}`)
    this.name = 'RunInProgressError'
  }
}

/**
 * Owns the "one run at a time" rule for this process: scheduled ticks and manual or backfill requests
 * all go through `start`, which refuses while a run is under way. Keeps the live tally of the current
 * run for the admin report.
 */
export class PushRunner {
  readonly #deps: PushRunnerDeps
  readonly #leadership: Leadership
  readonly #shutdown = new AbortController()
  #current: { tally: RunTally; done: Promise<PushRunReport | null> } | null = null
  #closed = false

  constructor(deps: PushRunnerDeps) {
    this.#deps = deps
    this.#leadership = deps.leadership ?? soleInstance
  }

  get running(): { id: string; trigger: RunTrigger } | null {
    const c = this.#current
    return c ? { id: c.tally.id, trigger: c.tally.trigger } : null
  }

  /** Starts a run now; throws RunInProgressError while one runs. */
  start(trigger: RunTrigger, range?: TimeWindow): StartedRun {
    if (this.#closed) throw new Error('the push runner is stopped')
    if (this.#current) throw new RunInProgressError(this.#current.tally.id)
    const now = this.#deps.now ?? Date.now
    const tally = new RunTally(randomUUID(), this.#deps.instanceId, trigger, now())
    let decide: (outcome: LeaseOutcome) => void = () => undefined
    const lease = new Promise<LeaseOutcome>((resolve) => {
      decide = resolve
    })
    const done = this.#execute(tally, range, decide).finally(() => {
      if (this.#current?.tally === tally) this.#current = null
      // Only reached undecided if something threw before the lease was asked for; a no-op otherwise.
      decide('failed')
    })
    this.#current = { tally, done }
    return { id: tally.id, trigger, done, lease }
  }

  /** The current run's live report, else the last finished one. */
  async latest(): Promise<PushRunReport | null> {
    const c = this.#current
    if (c) return c.tally.report((this.#deps.now ?? Date.now)())
    return this.#deps.store.latestRunReport()
  }

  /**
   * No new runs; waits for the current one to finish. After `graceMs` the run is aborted (it stops
   * before its next message, with the state consistent) and awaited.
   */
  async stop(graceMs: number): Promise<void> {
    this.#closed = true
    const c = this.#current
    if (!c) return
    let timer: NodeJS.Timeout | undefined
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs)
    })
    const finished = await Promise.race([c.done.then(() => true), grace.then(() => false)])
    clearTimeout(timer)
    if (!finished) {
      this.#shutdown.abort(new Error('the gateway is shutting down'))
      await c.done
    }
  }

  async #execute(tally: RunTally, range: TimeWindow | undefined, decide: (outcome: LeaseOutcome) => void): Promise<PushRunReport | null> {
    const { log } = this.#deps
    let lease
    try {
      lease = await this.#leadership.acquire()
    } catch (err) {
      const report = await this.#finish(tally, `could not take the push lock: ${(err as Error).message}`)
      // A scheduled run has nobody waiting for its report: the log is where an operator learns why.
      log.error({ report }, 'push run failed')
      decide('failed')
      return report
    }
    if (lease === null) {
      log.debug({ run: tally.id }, 'another instance leads the push job; skipping this run')
      decide('elsewhere')
      return null
    }
    decide('held')
    const signal = AbortSignal.any([this.#shutdown.signal, lease.signal])
    log.info({ run: tally.id, trigger: tally.trigger }, 'push run started')
    let error: string | null = null
    try {
      await runPushJob(this.#deps, { tally, signal, ...(range ? { range } : {}) })
    } catch (err) {
      error = signal.aborted ? `aborted: ${reasonText(signal.reason)}` : (err as Error).message
    } finally {
      await lease.release().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'releasing the push lock failed'))
    }
    const report = await this.#finish(tally, error)
    const level = report.status === 'ok' ? 'info' : 'error'
    log[level]({ report }, `push run ${report.status}`)
    return report
  }

  /**
   * The final report is saved before the run stops counting as current, so `latest()` never shows a
   * finished run as running nor a run as finished while `start` would still refuse a new one.
   */
  async #finish(tally: RunTally, error: string | null): Promise<PushRunReport> {
    const now = (this.#deps.now ?? Date.now)()
    tally.durationMs = now - tally.startedAt
    const report = { ...tally.report(now), status: error === null ? ('ok' as const) : ('failed' as const), error }
    try {
      await this.#deps.store.saveRunReport(report)
    } catch (err) {
      this.#deps.log.warn({ err: (err as Error).message }, 'could not save the push run report')
    }
    tally.status = report.status
    tally.error = error
    this.#current = null
    return report
  }
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason)
}
