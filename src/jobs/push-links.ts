import { setMaxListeners } from 'node:events'
import type { FastifyBaseLogger } from 'fastify'
import type { Config, CxConfig } from '../config.js'
import { isVendorDown } from '../errors.js'
import { buildLinkMessage } from '../cx/message.js'
import type { PushOutcome, TimeWindow, VoiceActivity, CimMessage } from '../cx/types.js'
import { assertValidLegKey, formatLegId } from '../legs/leg-id.js'
import { matchLegs } from '../legs/match.js'
import type { VendorLeg } from '../recording.js'
import type { RecordingProvider } from '../providers/types.js'
import type { CxLeg, PendingCall, StateStore } from '../state/types.js'
import { recordingLink } from './link.js'
import { forEachConcurrent, Limiter } from './limiter.js'
import type { RunTally } from './tally.js'
import { planWindows, splitWindow } from './windows.js'

/** What the job needs from CX (CxClient in production). */
export interface CxPort {
  voiceActivities(window: TimeWindow, signal?: AbortSignal): AsyncIterable<VoiceActivity[]>
  postActivity(message: CimMessage, signal?: AbortSignal): Promise<PushOutcome>
}

export type JobLogger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error' | 'debug'>

/** The settings a push run reads: pushing is on, so CX is configured. */
export type PushJobConfig = Pick<Config, 'publicBaseUrl' | 'linkSigning' | 'push'> & { readonly cx: CxConfig }

export interface PushJobDeps {
  readonly config: PushJobConfig
  readonly provider: RecordingProvider
  readonly cx: CxPort
  readonly store: StateStore
  readonly log: JobLogger
  readonly now?: () => number
}

export interface PushJobOptions {
  readonly tally: RunTally
  /** Backfill: this range instead of the cursor's; the cursor is left alone and pending calls wait for a scheduled run. */
  readonly range?: TimeWindow
  /** Aborting stops the run before its next message (shutdown, or leadership lost). */
  readonly signal?: AbortSignal
}

/** The work for one call: all of its CX legs known so far (matching pairs legs per call). */
interface CallWork {
  readonly dialogId: string
  readonly legs: CxLeg[]
}

/**
 * One run of the push job. Resolves with nothing and fills `tally`; throws when the run failed, having
 * left the state consistent: every accepted leg in the ledger, the cursor only past windows whose
 * every leg is settled or pending.
 */
export async function runPushJob(given: PushJobDeps, opts: PushJobOptions): Promise<void> {
  const stop = new AbortController()
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal
  const deps: PushJobDeps = { ...given, store: stopOnWriteFailure(given.store, stop) }
  const { config, store, log, tally } = { ...deps, tally: opts.tally }
  const now = deps.now ?? Date.now
  // Every worker may wait on a limiter and an upstream request at once, each listening on this signal:
  // that is the design, not a leak, so raise Node's warning threshold to the real bound.
  setMaxListeners(workerCount(config) * 2 + 10, signal)

  const view = await store.load()
  const backfill = opts.range !== undefined
  const windows = backfill
    ? splitWindow(opts.range, config.push.maxWindowS)
    : planWindows(view.cursor, now(), config.push)
  tally.windows = windows.map((w) => ({ start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString() }))

  const pending = new Map(view.pending.map((p) => [p.dialogId, p]))
  const ctx: CallContext = { deps, tally, signal, pending, now, vendor: new Limiter(config.push.vendorConcurrency), cx: new Limiter(config.cx.concurrency) }
  const run = (calls: Iterable<CallWork>): Promise<void> =>
    forEachConcurrent(calls, workerCount(config), (call) => processCall(ctx, call), (err) => stop.abort(err))

  if (!backfill) {
    const maxAgeMs = config.push.pendingMaxAgeS * 1000
    for (const p of view.pending) {
      if (now() - p.firstSeenAt <= maxAgeMs) continue
      log.warn(
        { dialogId: p.dialogId, legIds: p.waiting, firstSeenAt: new Date(p.firstSeenAt).toISOString(), lastError: p.lastError },
        'dropping pending legs: no link could be pushed within PENDING_MAX_AGE_S'
      )
      await store.removePending(p.dialogId)
      pending.delete(p.dialogId)
      tally.droppedPending += p.waiting.length
    }
  }

  const handled = new Set<string>()
  for (const window of windows) {
    signal.throwIfAborted()
    const calls = await readWindow(ctx, window)
    for (const c of calls) handled.add(c.dialogId)
    await run(calls)
    if (!backfill) await store.advanceCursor(window.end)
    tally.windowsDone++
  }

  if (!backfill) {
    // Calls pending from earlier runs; those that also appeared in this run's windows were just retried.
    const retry = [...pending.values()]
      .filter((p) => !handled.has(p.dialogId))
      .map((p): CallWork => ({ dialogId: p.dialogId, legs: [...p.legs] }))
    await run(retry)
  }

  if (!backfill) {
    // Legs CX accepted are remembered LEDGER_RETENTION_DAYS (never less than PENDING_MAX_AGE_S), so a
    // backfill over older windows does not push them again.
    const pendingHorizon = now() - config.push.pendingMaxAgeS * 1000
    await store.prune(pendingHorizon, Math.min(pendingHorizon, now() - config.push.ledgerRetentionDays * 86_400_000))
  }
  await store.checkpoint()
}

/**
 * The store as the run sees it: a write that fails aborts the run at once, in the rejection itself,
 * before the failing worker releases its CX slot. A ledger that cannot record (a full disk, a lost
 * database) must stop every further message, not only the failing worker's: a slot released first
 * would let the next message out before the abort, and CX would hold a link the ledger never learns of.
 */
function stopOnWriteFailure(store: StateStore, stop: AbortController): StateStore {
  const guard = <R>(write: Promise<R>): Promise<R> =>
    write.catch((err: unknown) => {
      stop.abort(err)
      throw err
    })
  return {
    kind: store.kind,
    load: () => store.load(),
    settled: (legIds) => store.settled(legIds),
    recordAccepted: (legId, at) => guard(store.recordAccepted(legId, at)),
    recordFailed: (leg) => guard(store.recordFailed(leg)),
    upsertPending: (call) => guard(store.upsertPending(call)),
    removePending: (dialogId) => guard(store.removePending(dialogId)),
    advanceCursor: (to) => guard(store.advanceCursor(to)),
    prune: (before, forgetBefore) => guard(store.prune(before, forgetBefore)),
    checkpoint: () => guard(store.checkpoint()),
    saveRunReport: (report) => store.saveRunReport(report),
    latestRunReport: () => store.latestRunReport(),
    close: () => store.close()
  }
}

/** Enough workers that CX always has a looked-up call to push while the vendor lookups run ahead. */
function workerCount(config: PushJobDeps['config']): number {
  return config.push.vendorConcurrency + 2 * config.cx.concurrency
}

interface CallContext {
  readonly deps: PushJobDeps
  readonly tally: RunTally
  readonly signal: AbortSignal
  /** Pending entries as they stand now in this run. */
  readonly pending: Map<string, PendingCall>
  readonly now: () => number
  readonly vendor: Limiter
  readonly cx: Limiter
}

/** All CX legs of a window grouped by call, each call's legs sorted by start. Legs that cannot form a link are recorded as failed. */
async function readWindow(ctx: CallContext, window: TimeWindow): Promise<CallWork[]> {
  const { store, log, cx } = ctx.deps
  const byCall = new Map<string, Map<string, CxLeg>>()
  const invalid = new Map<string, string>()
  for await (const page of cx.voiceActivities(window, ctx.signal)) {
    for (const a of page) {
      const leg = toCxLeg(a)
      if ('reason' in leg) {
        invalid.set(leg.key, leg.reason)
        continue
      }
      let legs = byCall.get(leg.dialogId)
      if (!legs) byCall.set(leg.dialogId, (legs = new Map<string, CxLeg>()))
      // Keyed by legId: a leg listed twice (pages shifting under us) is pushed once.
      legs.set(leg.legId, leg)
    }
  }

  if (invalid.size > 0) {
    const known = await store.settled([...invalid.keys()])
    for (const [key, reason] of invalid) {
      if (known.has(key)) continue
      log.warn({ leg: key, reason }, 'CX leg cannot be linked; recorded as failed')
      await store.recordFailed({ legId: key, at: ctx.now(), reason })
      ctx.tally.failed++
      ctx.tally.legs++
    }
  }

  const calls: CallWork[] = []
  for (const [dialogId, legs] of byCall) {
    const previous = ctx.pending.get(dialogId) ?? null
    // A call already pending (it straddles windows, or waited since an earlier run) is matched as a whole.
    const all = new Map(previous ? previous.legs.map((l) => [l.legId, l]) : [])
    for (const [id, l] of legs) all.set(id, l)
    calls.push({ dialogId, legs: [...all.values()] })
  }
  return calls
}

function toCxLeg(a: VoiceActivity): CxLeg | { key: string; reason: string } {
  const key = `${a.dialogId}:${a.agentExtension}:${a.ani}:${a.legStartTime}`
  const start = Date.parse(a.legStartTime)
  if (!Number.isFinite(start)) return { key, reason: `legStartTime ${JSON.stringify(a.legStartTime)} is not an ISO time` }
  const legKey = { dialogId: a.dialogId, agentExtension: a.agentExtension, ani: a.ani, startTime: start }
  try {
    assertValidLegKey(legKey)
  } catch (err) {
    return { key: formatLegId(legKey), reason: (err as Error).message }
  }
  if (a.channelSessionId === null && a.conversationId === null) {
    return { key: formatLegId(legKey), reason: 'the voice activity has neither channelSessionId nor conversationId' }
  }
  return {
    legId: formatLegId(legKey),
    dialogId: a.dialogId,
    agentExtension: a.agentExtension,
    ani: a.ani,
    start,
    channelSessionId: a.channelSessionId,
    conversationId: a.conversationId
  }
}

async function processCall(ctx: CallContext, call: CallWork): Promise<void> {
  const { deps, tally, signal } = ctx
  const { store, provider, config } = deps
  signal.throwIfAborted()
  const legs = [...call.legs].sort((a, b) => a.start - b.start || (a.legId < b.legId ? -1 : 1))
  const settled = await store.settled(legs.map((l) => l.legId))
  const settledEarlier = settledPerPending(ctx.pending.get(call.dialogId))
  const todo = legs.filter((l) => !settled.has(l.legId) && !settledEarlier.has(l.legId))
  tally.legs += legs.length
  tally.alreadyPushed += legs.length - todo.length
  if (todo.length === 0) {
    await settle(ctx, call, [], '')
    return
  }

  tally.calls++
  let vendorLegs: VendorLeg[]
  try {
    vendorLegs = await ctx.vendor.run(() => provider.findLegs(call.dialogId, signal), signal)
  } catch (err) {
    // The vendor as a whole is down: stop the run, keep the cursor; nothing is lost.
    if (signal.aborted || isVendorDown(err)) throw err
    deps.log.warn({ dialogId: call.dialogId, err: (err as Error).message }, 'vendor lookup failed; legs kept pending')
    await settle(ctx, call, todo.map((l) => l.legId), `vendor lookup failed: ${(err as Error).message}`)
    return
  }

  const matches = matchLegs(legs, vendorLegs, {
    toleranceMs: provider.matchPolicy.toleranceMs ?? config.push.matchToleranceMs,
    requireSameIdentity: provider.matchPolicy.requireSameIdentity
  })
  const todoIds = new Set(todo.map((l) => l.legId))
  const waiting: string[] = []
  let lastError = ''
  for (const { cx: leg, vendor } of matches) {
    if (!todoIds.has(leg.legId)) continue
    if (vendor === null) {
      waiting.push(leg.legId)
      lastError = 'no recording yet'
      continue
    }
    tally.matched++
    const outcome = await pushOne(ctx, leg)
    if (outcome.kind === 'accepted') {
      tally.pushed++
    } else if (outcome.kind === 'rejected') {
      tally.failed++
      deps.log.warn({ leg: leg.legId, status: outcome.status, reason: outcome.reason }, 'CX rejected the link; recorded as failed, not retried')
    } else {
      waiting.push(leg.legId)
      lastError = outcome.reason
      deps.log.warn({ leg: leg.legId, reason: outcome.reason }, 'push failed; leg kept pending')
    }
  }
  await settle(ctx, call, waiting, lastError)
}

/**
 * The legs a pending entry holds without waiting for them: they were settled when it was written. The
 * ledger alone cannot say so for long: it forgets an acceptance PENDING_MAX_AGE_S after it, while the
 * entry lives PENDING_MAX_AGE_S from its creation, which can be much later (a backfill finding a leg
 * CX reported late, a window read again after a failed run).
 */
function settledPerPending(entry: PendingCall | undefined): Set<string> {
  if (entry === undefined) return new Set()
  const waiting = new Set(entry.waiting)
  return new Set(entry.legs.filter((l) => !waiting.has(l.legId)).map((l) => l.legId))
}

/**
 * Sends one message and records its outcome before the CX slot is released: a worker never sends its
 * next message before the ledger holds the previous one, so a kill can double at most one message per
 * slot (CX_CONCURRENCY in all).
 *
 * The run's signal stops the next message, not the one on the wire: cancelling it could leave CX with a
 * link we never learn we pushed (the next leader would push it again), while letting it finish, within
 * CX_TIMEOUT_MS, records its outcome. So an abort (shutdown, leadership lost) doubles nothing.
 */
function pushOne(ctx: CallContext, leg: CxLeg): Promise<PushOutcome> {
  const { config, cx, store } = ctx.deps
  return ctx.cx.run(async () => {
    ctx.signal.throwIfAborted()
    const message = buildLinkMessage({
      legId: leg.legId,
      ani: leg.ani,
      channelSessionId: leg.channelSessionId,
      conversationId: leg.conversationId,
      mediaUrl: recordingLink(config, leg.legId),
      senderId: config.cx.senderId,
      activityType: config.cx.activityType,
      now: ctx.now()
    })
    const outcome = await cx.postActivity(message)
    if (outcome.kind === 'accepted') await store.recordAccepted(leg.legId, ctx.now())
    else if (outcome.kind === 'rejected') await store.recordFailed({ legId: leg.legId, at: ctx.now(), reason: outcome.reason })
    return outcome
  }, ctx.signal)
}

/** Updates the call's pending entry: the legs still waiting, or none. */
async function settle(ctx: CallContext, call: CallWork, waiting: string[], lastError: string): Promise<void> {
  const { store } = ctx.deps
  const current = ctx.pending.get(call.dialogId) ?? null
  if (waiting.length === 0) {
    if (current) {
      await store.removePending(call.dialogId)
      ctx.pending.delete(call.dialogId)
    }
    return
  }
  const entry: PendingCall = {
    dialogId: call.dialogId,
    legs: call.legs,
    waiting,
    firstSeenAt: current?.firstSeenAt ?? ctx.now(),
    attempts: (current?.attempts ?? 0) + 1,
    lastError
  }
  await store.upsertPending(entry)
  ctx.pending.set(call.dialogId, entry)
  ctx.tally.pending += waiting.length
}
