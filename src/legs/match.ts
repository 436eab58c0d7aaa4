import type { VendorLeg } from '../providers/types.js'

export interface CxLegLike {
  readonly agentExtension: string
  /** Epoch milliseconds. */
  readonly start: number
}

export interface LegMatch<C> {
  readonly cx: C
  readonly vendor: VendorLeg | null
}

/**
 * Pairs the CX legs of one call with its vendor legs: each CX leg gets the vendor leg with the nearest
 * start within `toleranceMs`, each vendor leg is used at most once. Candidate pairs are taken
 * greedily, best first: same agent extension before another agent's, then smaller distance, then
 * earlier CX leg. Returns one entry per CX leg, in the order given; `vendor` is null when unmatched.
 */
export function matchLegs<C extends CxLegLike>(
  cxLegs: readonly C[],
  vendorLegs: readonly VendorLeg[],
  toleranceMs: number
): LegMatch<C>[] {
  const pairs: { c: number; v: number; agentMismatch: number; distance: number }[] = []
  cxLegs.forEach((cx, c) => {
    vendorLegs.forEach((vendor, v) => {
      const distance = Math.abs(vendor.start - cx.start)
      if (distance <= toleranceMs) {
        pairs.push({ c, v, agentMismatch: vendor.agentExtension === cx.agentExtension ? 0 : 1, distance })
      }
    })
  })
  pairs.sort((a, b) => a.agentMismatch - b.agentMismatch || a.distance - b.distance || a.c - b.c || a.v - b.v)

  const vendorFor = new Array<VendorLeg | null>(cxLegs.length).fill(null)
  const usedVendor = new Set<number>()
  for (const p of pairs) {
    if (vendorFor[p.c] !== null || usedVendor.has(p.v)) continue
    vendorFor[p.c] = vendorLegs[p.v] ?? null
    usedVendor.add(p.v)
  }
  return cxLegs.map((cx, i) => ({ cx, vendor: vendorFor[i] ?? null }))
}
