/*
 * Push state: the cursor (end of the last completed window), the ledger of legs CX accepted, the legs
 * CX rejected for good, and the calls still waiting for a retry. Storage-agnostic: the file store
 * (default) and a PostgreSQL store (shared by several instances) implement the same interface.
 *
 * Contract for implementations: every write method resolves only once the write is durable (fsync'd,
 * or committed), because the push job sends its next message only after that; each write is atomic
 * on its own (a crash leaves it done or not done, never half done).
 */

/** One CX leg, as much as a retry needs to push it without asking CX again. */
export interface CxLeg {
  readonly legId: string
  readonly dialogId: string
  readonly agentExtension: string
  readonly ani: string
  /** Epoch milliseconds (CX's legStartTime). */
  readonly start: number
  readonly channelSessionId: string | null
  readonly conversationId: string | null
}

/**
 * A call with legs not pushed yet (no recording yet, the vendor could not answer, CX failed). All of its
 * CX legs are kept, not only the waiting ones, because legs are matched per call: each vendor leg
 * pairs with one CX leg at most.
 */
export interface PendingCall {
  readonly dialogId: string
  readonly legs: readonly CxLeg[]
  /** legIds still to push. */
  readonly waiting: readonly string[]
  /** Epoch ms when the call first went pending; it is dropped PENDING_MAX_AGE_S later. */
  readonly firstSeenAt: number
  readonly attempts: number
  readonly lastError: string
}

export interface FailedLeg {
  readonly legId: string
  /** Epoch ms. */
  readonly at: number
  readonly reason: string
}

export type Settlement = 'accepted' | 'failed'

/** What a run starts from. */
export interface PushStateView {
  /** Epoch ms, or null before the first completed window. */
  readonly cursor: number | null
  readonly pending: readonly PendingCall[]
}

export interface RunWindow {
  readonly start: string
  readonly end: string
}

export type RunTrigger = 'schedule' | 'manual' | 'backfill'

export interface PushRunReport {
  readonly id: string
  readonly instance: string
  readonly trigger: RunTrigger
  readonly windows: readonly RunWindow[]
  /** Windows handled completely so far (reports saved before this field existed lack it). */
  readonly windowsDone?: number
  /** Calls looked up in the vendor (window calls and pending retries). */
  readonly calls: number
  /** CX legs considered. */
  readonly legs: number
  /** CX legs paired with a vendor recording. */
  readonly matched: number
  /** Messages CX accepted in this run. */
  readonly pushed: number
  /** Legs skipped because the ledger says CX already has them (or they failed for good earlier). */
  readonly alreadyPushed: number
  /** Legs left waiting for a later run. */
  readonly pending: number
  /** Legs recorded as failed in this run (4xx from CX, or CX data that cannot form a link). */
  readonly failed: number
  /** Pending legs dropped in this run because they waited longer than PENDING_MAX_AGE_S. */
  readonly droppedPending: number
  readonly status: 'running' | 'ok' | 'failed'
  readonly error: string | null
  readonly startedAt: string
  readonly durationMs: number
}

export interface StateStore {
  readonly kind: string
  /** A fresh view for a run (another instance may have changed shared state since the last one). */
  load(): Promise<PushStateView>
  /** Which of these legs are settled: accepted by CX, or failed for good. Unknown legs are absent. */
  settled(legIds: readonly string[]): Promise<Map<string, Settlement>>
  recordAccepted(legId: string, at: number): Promise<void>
  recordFailed(leg: FailedLeg): Promise<void>
  /** Creates or replaces the pending entry of `call.dialogId`. */
  upsertPending(call: PendingCall): Promise<void>
  removePending(dialogId: string): Promise<void>
  /** Moves the cursor; only ever called once every leg of the windows before it is settled or pending. */
  advanceCursor(to: number): Promise<void>
  /**
   * Forgets failed entries recorded before `before` (epoch ms), and ledger entries recorded before
   * `forgetBefore` (default `before`; LEDGER_RETENTION_DAYS); returns how many entries left the live
   * state. Ledger entries between the two stay known to `settled`, possibly in a compact form.
   */
  prune(before: number, forgetBefore?: number): Promise<number>
  /** End of a run: a good moment to compact (the file store folds its journal into the snapshot). */
  checkpoint(): Promise<void>
  saveRunReport(report: PushRunReport): Promise<void>
  latestRunReport(): Promise<PushRunReport | null>
  close(): Promise<void>
}
