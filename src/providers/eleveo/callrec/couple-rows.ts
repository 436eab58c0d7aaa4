import { UpstreamError } from '../../../errors.js'
import type { LocalTimeZone } from './local-time.js'
import { parseWallClock } from './local-time.js'
import type { Couple } from './merge-adjacent.js'

/** The columns the legs query must return (the GUIDE's default query names them so). */
export const COUPLE_COLUMNS = ['sid', 'start_ts', 'stop_ts', 'agent_extension', 'ani'] as const

/** A row as postgres.js hands it over: `timestamp` columns as text, `timestamptz` as Date. */
export type CoupleRow = Record<string, unknown>

/**
 * Turns the legs query's rows into couples with epoch times. A `timestamp without time zone` (text
 * here) is CallREC's local time and is read in the configured zone; a `timestamptz` (a Date) is
 * already an instant. Anything else means ELEVEO_LEGS_QUERY does not return what it must: a 502 that
 * says which column is wrong, since the answer cannot be trusted for any couple.
 */
export function couplesFromRows(rows: readonly CoupleRow[], zone: LocalTimeZone): Couple[] {
  return rows.map((row, i) => {
    const where = `row ${i + 1} of the legs query`
    for (const column of COUPLE_COLUMNS) {
      if (!(column in row)) {
        throw contractError(`${where} has no column ${column} (it must return ${COUPLE_COLUMNS.join(', ')})`)
      }
    }
    const sid = row.sid
    if (typeof sid !== 'string' || sid.trim() === '') throw contractError(`${where}: sid must be a non-empty text, got ${describe(sid)}`)
    const start = instant(row.start_ts, zone, undefined)
    if (start === null) throw contractError(`${where} (sid ${sid}): start_ts must be a timestamp, got ${describe(row.start_ts)}`)
    const stop = row.stop_ts === null ? null : instant(row.stop_ts, zone, start)
    if (stop === null && row.stop_ts !== null) {
      throw contractError(`${where} (sid ${sid}): stop_ts must be a timestamp or null, got ${describe(row.stop_ts)}`)
    }
    return { sid: sid.trim(), agentExtension: text(row.agent_extension), ani: text(row.ani), start, stop }
  })
}

function instant(value: unknown, zone: LocalTimeZone, notBefore: number | undefined): number | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime()
  if (typeof value !== 'string') return null
  const wall = parseWallClock(value)
  return wall === null ? null : zone.toEpochMs(wall, notBefore)
}

/** Numbers stored as numbers (a custom query's integer column) are fine; null means unknown. */
function text(value: unknown): string {
  if (typeof value === 'string') return value.trim()
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  return ''
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value
}

function contractError(message: string): Error {
  return new UpstreamError('eleveo', message)
}
