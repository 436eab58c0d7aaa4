import type { CxLeg, FailedLeg, PendingCall } from './types.js'

/** The whole push state in memory: what the file store snapshots and its journal replays onto. */
export interface StateModel {
  cursor: number | null
  /** legId → epoch ms CX accepted it. */
  accepted: Map<string, number>
  failed: Map<string, FailedLeg>
  /** dialogId → pending call. */
  pending: Map<string, PendingCall>
}

/** One journal line. Every event is idempotent, so replaying a journal over a newer snapshot is harmless. */
export type StateEvent =
  | { readonly e: 'acc'; readonly leg: string; readonly at: number }
  | { readonly e: 'fail'; readonly leg: string; readonly at: number; readonly reason: string }
  | { readonly e: 'pend'; readonly call: PendingCall }
  | { readonly e: 'unpend'; readonly dialogId: string }
  | { readonly e: 'cursor'; readonly to: number }

export function emptyModel(): StateModel {
  return { cursor: null, accepted: new Map(), failed: new Map(), pending: new Map() }
}

export function applyEvent(m: StateModel, ev: StateEvent): void {
  switch (ev.e) {
    case 'acc':
      m.accepted.set(ev.leg, ev.at)
      // A leg that failed once and was accepted later (backfill after a fix) counts as accepted.
      m.failed.delete(ev.leg)
      return
    case 'fail':
      if (!m.accepted.has(ev.leg)) m.failed.set(ev.leg, { legId: ev.leg, at: ev.at, reason: ev.reason })
      return
    case 'pend':
      m.pending.set(ev.call.dialogId, ev.call)
      return
    case 'unpend':
      m.pending.delete(ev.dialogId)
      return
    case 'cursor':
      m.cursor = ev.to
      return
  }
}

/** Thrown with a description of what is wrong; the caller adds the file name and position. */
export class ShapeError extends Error {}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
function str(o: Record<string, unknown>, k: string): string {
  const v = o[k]
  if (typeof v !== 'string') throw new ShapeError(`"${k}" must be a string`)
  return v
}
function num(o: Record<string, unknown>, k: string): number {
  const v = o[k]
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ShapeError(`"${k}" must be a number`)
  return v
}
function strOrNull(o: Record<string, unknown>, k: string): string | null {
  const v = o[k]
  if (v !== null && typeof v !== 'string') throw new ShapeError(`"${k}" must be a string or null`)
  return v
}

function toLeg(v: unknown): CxLeg {
  if (!isObj(v)) throw new ShapeError('a pending leg must be an object')
  return {
    legId: str(v, 'legId'),
    dialogId: str(v, 'dialogId'),
    agentExtension: str(v, 'agentExtension'),
    ani: str(v, 'ani'),
    start: num(v, 'start'),
    channelSessionId: strOrNull(v, 'channelSessionId'),
    conversationId: strOrNull(v, 'conversationId')
  }
}

export function toPendingCall(v: unknown): PendingCall {
  if (!isObj(v)) throw new ShapeError('a pending call must be an object')
  const legs = v.legs
  const waiting = v.waiting
  if (!Array.isArray(legs)) throw new ShapeError('"legs" must be an array')
  if (!Array.isArray(waiting) || !waiting.every((w) => typeof w === 'string')) {
    throw new ShapeError('"waiting" must be an array of strings')
  }
  return {
    dialogId: str(v, 'dialogId'),
    legs: legs.map(toLeg),
    waiting,
    firstSeenAt: num(v, 'firstSeenAt'),
    attempts: num(v, 'attempts'),
    lastError: str(v, 'lastError')
  }
}

export function toEvent(v: unknown): StateEvent {
  if (!isObj(v)) throw new ShapeError('an event must be an object')
  switch (v.e) {
    case 'acc':
      return { e: 'acc', leg: str(v, 'leg'), at: num(v, 'at') }
    case 'fail':
      return { e: 'fail', leg: str(v, 'leg'), at: num(v, 'at'), reason: str(v, 'reason') }
    case 'pend':
      return { e: 'pend', call: toPendingCall(v.call) }
    case 'unpend':
      return { e: 'unpend', dialogId: str(v, 'dialogId') }
    case 'cursor':
      return { e: 'cursor', to: num(v, 'to') }
    default:
      throw new ShapeError(`unknown event ${JSON.stringify(v.e)}`)
  }
}

export const SNAPSHOT_VERSION = 1

interface SnapshotJson {
  version: number
  cursor: number | null
  accepted: Record<string, number>
  failed: Record<string, { at: number; reason: string }>
  pending: PendingCall[]
}

export function modelToSnapshot(m: StateModel): string {
  const snap: SnapshotJson = {
    version: SNAPSHOT_VERSION,
    cursor: m.cursor,
    accepted: Object.fromEntries(m.accepted),
    failed: Object.fromEntries([...m.failed].map(([k, f]) => [k, { at: f.at, reason: f.reason }])),
    pending: [...m.pending.values()]
  }
  return JSON.stringify(snap)
}

export function snapshotToModel(v: unknown): StateModel {
  if (!isObj(v)) throw new ShapeError('the snapshot must be a JSON object')
  if (v.version !== SNAPSHOT_VERSION) throw new ShapeError(`unsupported version ${JSON.stringify(v.version)}`)
  const m = emptyModel()
  if (v.cursor !== null) m.cursor = num(v, 'cursor')
  if (!isObj(v.accepted)) throw new ShapeError('"accepted" must be an object')
  for (const [leg, at] of Object.entries(v.accepted)) {
    if (typeof at !== 'number') throw new ShapeError(`accepted[${JSON.stringify(leg)}] must be a number`)
    m.accepted.set(leg, at)
  }
  if (!isObj(v.failed)) throw new ShapeError('"failed" must be an object')
  for (const [leg, f] of Object.entries(v.failed)) {
    if (!isObj(f)) throw new ShapeError(`failed[${JSON.stringify(leg)}] must be an object`)
    m.failed.set(leg, { legId: leg, at: num(f, 'at'), reason: str(f, 'reason') })
  }
  if (!Array.isArray(v.pending)) throw new ShapeError('"pending" must be an array')
  for (const p of v.pending) {
    const call = toPendingCall(p)
    m.pending.set(call.dialogId, call)
  }
  return m
}
