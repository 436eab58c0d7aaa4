import type { VendorLeg } from '../recording.js'

export interface CxLegLike {
  readonly agentExtension: string
  readonly ani: string
  /** Epoch milliseconds. */
  readonly start: number
}

export interface LegMatch<C> {
  readonly cx: C
  readonly vendor: VendorLeg | null
}

export interface MatchOptions {
  /** Maximum start distance of a pair; Infinity for none. */
  readonly toleranceMs: number
  /** Only pair legs of the same agent extension and ANI. */
  readonly requireSameIdentity: boolean
}

/**
 * Pairs the CX legs of one call with its vendor legs: each CX leg gets the vendor leg with the nearest
 * start within the tolerance, each vendor leg is used at most once. Candidate pairs are taken
 * greedily, best first: same agent extension before another agent's, then smaller distance, then
 * earlier CX leg. Returns one entry per CX leg, in the order given; `vendor` is null when unmatched.
 */
export function matchLegs<C extends CxLegLike>(
  cxLegs: readonly C[],
  vendorLegs: readonly VendorLeg[],
  options: MatchOptions
): LegMatch<C>[] {
  const pairs: { c: number; v: number; agentMismatch: number; distance: number }[] = []
  cxLegs.forEach((cx, c) => {
    vendorLegs.forEach((vendor, v) => {
      const sameAgent = vendor.agentExtension === cx.agentExtension
      if (options.requireSameIdentity && !(sameAgent && vendor.ani === cx.ani)) return
      const distance = Math.abs(vendor.start - cx.start)
      if (distance <= options.toleranceMs) pairs.push({ c, v, agentMismatch: sameAgent ? 0 : 1, distance })
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
