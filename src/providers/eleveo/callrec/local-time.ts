/*
 * CallREC stores wall-clock times of its server's zone without an offset. Turning them into instants
 * needs that zone's UTC offset at that wall-clock time, which changes at daylight-saving transitions;
 * Intl knows the IANA rules, so no time-zone library is needed.
 */

import { checkTimeZone } from '../../../time-zone.js'

/** A wall-clock time as its fields; month 1..12. */
export interface WallClock {
  readonly year: number
  readonly month: number
  readonly day: number
  readonly hour: number
  readonly minute: number
  readonly second: number
  readonly millisecond: number
}

// `2026-03-29 01:50:00`, `2026-03-29T01:50:00.123456` (PostgreSQL prints microseconds; we keep ms).
const LOCAL_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/

/** Parses PostgreSQL's ISO text of a `timestamp without time zone`; null when it is not one. */
export function parseWallClock(text: string): WallClock | null {
  const m = LOCAL_TIMESTAMP.exec(text.trim())
  if (m === null) return null
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const millisecond = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000)
  const asUtc = new Date(Date.UTC(year, month - 1, day, hour, minute, second))
  // Date.UTC rolls 2026-02-30 over into March: such a date is not a timestamp.
  if (asUtc.getUTCFullYear() !== year || asUtc.getUTCMonth() !== month - 1 || asUtc.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return null
  }
  return { year, month, day, hour, minute, second, millisecond }
}

/**
 * Converts wall-clock times of one zone to epoch milliseconds.
 *
 * Two wall-clock times are special. In the hour skipped in spring (02:30 in Prague on the last Sunday
 * of March) nothing can have been recorded; such a time is read as the clock a moment earlier would
 * have shown moved forward by the gap (03:30 CEST), as RFC 5545 and Temporal's 'compatible' do. In the
 * hour repeated in autumn, a time is read as its first occurrence unless the caller says it cannot be
 * earlier than a given instant (a stop is never before its start): `notBefore` picks the later one then.
 */
export class LocalTimeZone {
  readonly name: string
  readonly #parts: Intl.DateTimeFormat

  constructor(zone: string) {
    this.name = checkTimeZone(zone)
    this.#parts = new Intl.DateTimeFormat('en-US', {
      timeZone: this.name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric'
    })
  }

  /** The zone's offset from UTC in ms at an instant (whole seconds; historic LMT offsets have them). */
  offsetAt(epochMs: number): number {
    const seconds = Math.floor(epochMs / 1000) * 1000
    const f: Record<string, number> = {}
    for (const p of this.#parts.formatToParts(seconds)) if (p.type !== 'literal') f[p.type] = Number(p.value)
    const wall = Date.UTC(f.year!, f.month! - 1, f.day, f.hour, f.minute, f.second)
    return wall - seconds
  }

  toEpochMs(wall: WallClock, notBefore?: number): number {
    const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second, wall.millisecond)
    // Offsets in force a day either side cover every transition (none is longer than a day); each
    // candidate instant is kept only if the zone really shows this wall-clock time at it.
    const offsets = new Set([this.offsetAt(asUtc - 86_400_000), this.offsetAt(asUtc), this.offsetAt(asUtc + 86_400_000)])
    const candidates = [...offsets]
      .map((offset) => asUtc - offset)
      .filter((instant) => this.offsetAt(instant) === asUtc - instant)
      .sort((a, b) => a - b)
    if (candidates.length === 0) {
      // In a spring gap: use the offset before the transition, which lands after it.
      return asUtc - this.offsetAt(asUtc - 86_400_000)
    }
    if (notBefore !== undefined) {
      const later = candidates.find((c) => c >= notBefore)
      if (later !== undefined) return later
    }
    return candidates[0]!
  }
}
