import t from 'tap'
import { LocalTimeZone, parseWallClock } from '../../src/providers/eleveo/callrec/local-time.js'
import { checkTimeZone, UnknownTimeZoneError } from '../../src/time-zone.js'

/** Epoch ms of a wall-clock text in a zone, read the way the provider reads CallREC's timestamps. */
function at(zone: LocalTimeZone, text: string, notBefore?: string): string {
  const wall = parseWallClock(text)
  if (wall === null) throw new Error(`not a timestamp: ${text}`)
  return new Date(zone.toEpochMs(wall, notBefore === undefined ? undefined : Date.parse(notBefore))).toISOString()
}

// Expected instants are written out from the zone rules (EU: clocks change at 01:00 UTC on the last
// Sundays of March and October), not computed.
t.test('Europe/Prague: winter, summer and both changes of 2026', async (t) => {
  const prague = new LocalTimeZone('Europe/Prague')
  t.equal(at(prague, '2026-01-15 09:30:00'), '2026-01-15T08:30:00.000Z', 'CET is UTC+1')
  t.equal(at(prague, '2026-07-01 12:00:00.250'), '2026-07-01T10:00:00.250Z', 'CEST is UTC+2; milliseconds kept')
  t.equal(at(prague, '2026-07-01 12:00:00.123456'), '2026-07-01T10:00:00.123Z', 'PostgreSQL microseconds cut to ms')

  // Spring: 02:00 CET becomes 03:00 CEST.
  t.equal(at(prague, '2026-03-29 01:59:59'), '2026-03-29T00:59:59.000Z', 'last second of CET')
  t.equal(at(prague, '2026-03-29 03:00:00'), '2026-03-29T01:00:00.000Z', 'first second of CEST')
  t.equal(at(prague, '2026-03-29 02:30:00'), '2026-03-29T01:30:00.000Z', 'a skipped time is read as the same moment moved past the gap (03:30 CEST)')
  t.equal(
    Date.parse(at(prague, '2026-03-29 03:10:00')) - Date.parse(at(prague, '2026-03-29 01:50:00')),
    20 * 60_000,
    'a couple from 01:50 to 03:10 local lasted 20 minutes'
  )

  // Autumn: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happen twice.
  t.equal(at(prague, '2026-10-25 01:59:59'), '2026-10-24T23:59:59.000Z', 'before the change, CEST')
  t.equal(at(prague, '2026-10-25 02:30:00'), '2026-10-25T00:30:00.000Z', 'a repeated time is its first occurrence by default')
  t.equal(at(prague, '2026-10-25 02:10:00', '2026-10-25T00:50:00.000Z'), '2026-10-25T01:10:00.000Z', 'a stop after a start at 02:50 CEST is the second 02:10')
  t.equal(at(prague, '2026-10-25 02:55:00', '2026-10-25T00:50:00.000Z'), '2026-10-25T00:55:00.000Z', 'a stop that fits the first occurrence keeps it')
  t.equal(at(prague, '2026-10-25 03:00:00'), '2026-10-25T02:00:00.000Z', 'after the change, CET')
  t.equal(at(prague, '2026-12-06 12:00:00'), '2026-12-06T11:00:00.000Z')
})

t.test('a zone west of UTC and UTC itself', async (t) => {
  const ny = new LocalTimeZone('America/New_York')
  t.equal(at(ny, '2026-03-08 03:30:00'), '2026-03-08T07:30:00.000Z', 'EDT is UTC-4')
  t.equal(at(ny, '2026-03-08 01:30:00'), '2026-03-08T06:30:00.000Z', 'EST is UTC-5')
  t.equal(at(ny, '2026-11-01 01:30:00'), '2026-11-01T05:30:00.000Z', 'the repeated hour: first (EDT) occurrence')
  const utc = new LocalTimeZone('UTC')
  t.equal(at(utc, '2026-03-29 02:30:00'), '2026-03-29T02:30:00.000Z')
  t.equal(utc.name, 'UTC')
})

t.test('unknown zones and texts that are not timestamps', async (t) => {
  t.throws(() => checkTimeZone('Europe/Atlantis'), UnknownTimeZoneError)
  t.throws(() => new LocalTimeZone('CEST+2'), { message: /unknown time zone "CEST\+2": expected an IANA name/ })
  t.equal(checkTimeZone('europe/prague'), 'Europe/Prague', 'names are canonicalised')
  for (const bad of ['2026-02-30 10:00:00', '2026-03-29T01:50:00+01:00', '2026-03-29', '24:00:00', 'infinity', '2026-03-29 25:00:00']) {
    t.equal(parseWallClock(bad), null, bad)
  }
  t.same(parseWallClock('2026-03-29T01:50:07'), { year: 2026, month: 3, day: 29, hour: 1, minute: 50, second: 7, millisecond: 0 })
})
