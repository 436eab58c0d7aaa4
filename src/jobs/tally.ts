import type { PushRunReport, RunTrigger, RunWindow } from '../state/types.js'

/** The counters of one run, readable while it runs (GET /admin/push-runs/latest shows them live). */
export class RunTally {
  calls = 0
  legs = 0
  matched = 0
  pushed = 0
  alreadyPushed = 0
  pending = 0
  failed = 0
  droppedPending = 0
  windows: RunWindow[] = []
  /** Windows read and handled completely (a backfill's progress: windowsDone of windows.length). */
  windowsDone = 0
  status: PushRunReport['status'] = 'running'
  error: string | null = null
  durationMs: number | null = null

  constructor(
    readonly id: string,
    readonly instance: string,
    readonly trigger: RunTrigger,
    readonly startedAt: number
  ) {}

  report(now: number = Date.now()): PushRunReport {
    return {
      id: this.id,
      instance: this.instance,
      trigger: this.trigger,
      windows: [...this.windows],
      windowsDone: this.windowsDone,
      calls: this.calls,
      legs: this.legs,
      matched: this.matched,
      pushed: this.pushed,
      alreadyPushed: this.alreadyPushed,
      pending: this.pending,
      failed: this.failed,
      droppedPending: this.droppedPending,
      status: this.status,
      error: this.error,
      startedAt: new Date(this.startedAt).toISOString(),
      durationMs: this.durationMs ?? now - this.startedAt
    }
  }
}
