import type { SegmentRef, VendorLeg } from '../../recording.js'

/** One leg as a recorder stores it, before HOLD-split parts are joined. */
export interface RawLeg {
  readonly id: string
  readonly dialogId: string
  readonly agentExtension: string
  readonly ani: string
  /** Epoch milliseconds. */
  readonly start: number
  readonly end: number | null
  /** `HOLD` means the same agent's leg continues in their next leg. Missing means "not HOLD". */
  readonly endReason?: string | null | undefined
}

function byStartThenId(a: RawLeg, b: RawLeg): number {
  return a.start - b.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/**
 * Joins legs that a recorder split because the agent put the call on HOLD: a leg ending with `HOLD`
 * continues in the next leg (by start) of the same agent extension. Nothing else is ever merged: two
 * direct-transfer legs of one agent stay two legs. Returns legs sorted by start.
 */
export function mergeHoldLegs(raw: readonly RawLeg[], toSegment: (leg: RawLeg) => SegmentRef): VendorLeg[] {
  const sorted = [...raw].sort(byStartThenId)
  const merged: OpenLeg[] = []
  // Per agent extension, the merged leg still open because its last part ended with HOLD. Parts are
  // appended in place: copying the segment list on every join made a 20,000-part chain quadratic.
  const openByAgent = new Map<string, OpenLeg>()

  for (const leg of sorted) {
    const open = openByAgent.get(leg.agentExtension)
    if (open) {
      open.segments.push(toSegment(leg))
      open.end = leg.end
      if (!isHold(leg)) openByAgent.delete(leg.agentExtension)
      continue
    }
    const fresh: OpenLeg = {
      dialogId: leg.dialogId,
      agentExtension: leg.agentExtension,
      ani: leg.ani,
      start: leg.start,
      end: leg.end,
      segments: [toSegment(leg)]
    }
    merged.push(fresh)
    if (isHold(leg)) openByAgent.set(leg.agentExtension, fresh)
  }
  return merged
}

/** A merged leg while parts may still be appended to it. */
interface OpenLeg extends VendorLeg {
  end: number | null
  readonly segments: SegmentRef[]
}

function isHold(leg: RawLeg): boolean {
  return typeof leg.endReason === 'string' && leg.endReason.trim().toUpperCase() === 'HOLD'
}
