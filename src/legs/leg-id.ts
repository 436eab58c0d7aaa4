import { BadLegIdError } from '../errors.js'

/** What a link names: one CX leg of one call. */
export interface LegKey {
  readonly dialogId: string
  readonly agentExtension: string
  readonly ani: string
  /** Epoch milliseconds, as CX reported the leg's start. */
  readonly startTime: number
}

/*
 * The parts end up in file names (EFSwitch) and upstream URLs (Eleveo), so only characters that are
 * harmless in both are allowed: no separators, no dots-only names, no control characters.
 * `+`, `#` and `*` appear in telephone numbers; `@` and `.` in SIP-style identifiers.
 */
const PART = /^[A-Za-z0-9_.+@#*-]+$/
const MAX_PART_LENGTH = 128

function checkPart(name: string, value: string, allowEmpty: boolean): void {
  if (value === '') {
    if (allowEmpty) return
    throw new BadLegIdError(`${name} is empty`)
  }
  if (value.length > MAX_PART_LENGTH) throw new BadLegIdError(`${name} is longer than ${MAX_PART_LENGTH} characters`)
  if (!PART.test(value)) {
    throw new BadLegIdError(`${name} ${JSON.stringify(value)} contains characters other than letters, digits and _ . + @ # * -`)
  }
  if (value.includes('..')) throw new BadLegIdError(`${name} ${JSON.stringify(value)} contains ".."`)
}

/**
 * Parses `dialogId:agentExtension:ani:legStartTime`. Accepts the colons URL-encoded (`%3A`) since
 * some clients encode the whole path segment. An empty ani is allowed: anonymous callers have none.
 */
export function parseLegId(raw: string): LegKey {
  let text = raw
  if (/%3a/i.test(text)) {
    try {
      text = decodeURIComponent(text)
    } catch {
      throw new BadLegIdError('it is not valid percent-encoding')
    }
  }
  const parts = text.split(':')
  if (parts.length !== 4) {
    throw new BadLegIdError(
      `expected dialogId:agentExtension:ani:legStartTime (4 parts separated by ':'), got ${parts.length} part${parts.length === 1 ? '' : 's'}`
    )
  }
  const [dialogId, agentExtension, ani, startRaw] = parts as [string, string, string, string]
  checkPart('dialogId', dialogId, false)
  checkPart('agentExtension', agentExtension, false)
  checkPart('ani', ani, true)
  if (!/^\d{1,15}$/.test(startRaw)) {
    throw new BadLegIdError(`legStartTime ${JSON.stringify(startRaw)} is not epoch milliseconds (digits only)`)
  }
  return { dialogId, agentExtension, ani, startTime: Number(startRaw) }
}

export function formatLegId(key: LegKey): string {
  return `${key.dialogId}:${key.agentExtension}:${key.ani}:${Math.round(key.startTime)}`
}

/** Throws BadLegIdError when a key could not be turned into a valid link (e.g. odd characters in CX data). */
export function assertValidLegKey(key: LegKey): void {
  parseLegId(formatLegId(key))
}
