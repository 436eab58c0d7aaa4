import type { VendorLeg } from '../recording.js'
import type { LegKey } from '../legs/leg-id.js'

/**
 * The vendor leg a link points at: the one whose start is closest to the link's legStartTime; when
 * several are equally close, one of the same agent extension wins, then the earliest listed.
 * With `requireSameIdentity` only legs of the same agent extension and ANI are candidates.
 */
export function chooseClosestLeg(
  legs: readonly VendorLeg[],
  key: LegKey,
  requireSameIdentity = false
): VendorLeg | undefined {
  let best: VendorLeg | undefined
  let bestRank: [number, number] = [Infinity, Infinity]
  for (const leg of legs) {
    const sameAgent = leg.agentExtension === key.agentExtension
    if (requireSameIdentity && !(sameAgent && leg.ani === key.ani)) continue
    const rank: [number, number] = [Math.abs(leg.start - key.startTime), sameAgent ? 0 : 1]
    if (rank[0] < bestRank[0] || (rank[0] === bestRank[0] && rank[1] < bestRank[1])) {
      best = leg
      bestRank = rank
    }
  }
  return best
}
