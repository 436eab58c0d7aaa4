/*
 * IANA time-zone names, checked against what Intl knows (no time-zone library needed). Pure: shared by
 * config validation and the vendors that read wall-clock times.
 */

/** Thrown for a zone name Intl does not know. */
export class UnknownTimeZoneError extends Error {
  constructor(readonly zone: string) {
    super(`unknown time zone ${JSON.stringify(zone)}: expected an IANA name such as Europe/Prague or UTC`)
    this.name = 'UnknownTimeZoneError'
  }
}

/** The zone's canonical name, or UnknownTimeZoneError. */
export function checkTimeZone(zone: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone
  } catch {
    throw new UnknownTimeZoneError(zone)
  }
}
