import type { TimeWindow } from '../cx/types.js'

export interface WindowSettings {
  /** PROCESSING_DELAY_S: recordings of the last minutes are not in the vendor yet. */
  readonly processingDelayS: number
  readonly defaultWindowS: number
  readonly maxWindowS: number
}

/**
 * The windows a scheduled run covers: from the cursor (or `defaultWindowS` back when there is none) to
 * `now - processingDelayS`, cut into consecutive windows of at most `maxWindowS` so that catching up
 * after downtime advances the cursor step by step instead of all or nothing.
 */
export function planWindows(cursor: number | null, now: number, s: WindowSettings): TimeWindow[] {
  const end = now - s.processingDelayS * 1000
  const start = cursor ?? end - s.defaultWindowS * 1000
  return splitWindow({ start, end }, s.maxWindowS)
}

/** Consecutive windows covering [start, end), none longer than maxWindowS; empty when start >= end. */
export function splitWindow(range: TimeWindow, maxWindowS: number): TimeWindow[] {
  const step = maxWindowS * 1000
  const out: TimeWindow[] = []
  for (let s = range.start; s < range.end; s += step) out.push({ start: s, end: Math.min(s + step, range.end) })
  return out
}
