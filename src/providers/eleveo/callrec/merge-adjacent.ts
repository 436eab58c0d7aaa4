import type { SegmentRef, VendorLeg } from '../../../recording.js'

/** One CallREC couple: one recorded stay of one party pair, times already in epoch milliseconds. */
export interface Couple {
  readonly sid: string
  readonly agentExtension: string
  readonly ani: string
  readonly start: number
  /** Null while the couple is still being recorded. */
  readonly stop: number | null
}

/**
 * Stops of one couple and starts of the next are stamped separately and rounded to CallREC's clock:
 * a continuation may appear to start a little before the previous part stopped. Beyond this, two
 * couples overlap for real (two recordings at once) and are kept apart.
 */
const OVERLAP_SLACK_MS = 1000

function byStartThenSid(a: Couple, b: Couple): number {
  return a.start - b.start || (a.sid < b.sid ? -1 : a.sid > b.sid ? 1 : 0)
}

/**
 * CallREC marks no end reason, so a call split by HOLD is recognised by adjacency: a couple continues
 * the leg of the couple just before it (by start) when both have the same agent extension and the gap
 * between the earlier one's stop and the later one's start is at most `maxGapMs`. A couple of another
 * agent starting in between ends the leg, so a call going A → B → A gives three legs: A's two stays
 * are separate conversations even when the gap is short. One pass over the sorted couples.
 */
export function mergeAdjacentCouples(couples: readonly Couple[], dialogId: string, maxGapMs: number): VendorLeg[] {
  const legs: OpenLeg[] = []
  for (const couple of [...couples].sort(byStartThenSid)) {
    const last = legs[legs.length - 1]
    if (last !== undefined && continues(last, couple, maxGapMs)) {
      last.segments.push({ id: couple.sid })
      last.end = couple.stop
      continue
    }
    legs.push({
      dialogId,
      agentExtension: couple.agentExtension,
      ani: couple.ani,
      start: couple.start,
      end: couple.stop,
      segments: [{ id: couple.sid }]
    })
  }
  return legs
}

type OpenLeg = { -readonly [K in keyof VendorLeg]: VendorLeg[K] } & { segments: SegmentRef[] }

function continues(leg: OpenLeg, next: Couple, maxGapMs: number): boolean {
  // A couple still recording has no stop, so nothing can follow it yet; couples without an agent
  // extension cannot be told apart, so they are never joined.
  if (leg.end === null || leg.agentExtension === '' || next.agentExtension !== leg.agentExtension) return false
  const gap = next.start - leg.end
  return gap >= -OVERLAP_SLACK_MS && gap <= maxGapMs
}
