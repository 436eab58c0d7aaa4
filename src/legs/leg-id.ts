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
const PART_CHARACTERS = 'letters, digits and _ . + @ # * -'
/*
 * CX's dialogId is the SIP Call-ID (`a84b4c76e66710@pc33.example.com`): RFC 3261 lets it hold any
 * `word` character, `word@word`. All of them are accepted except the ones that could leave a file name
 * or split a legId: `/`, `\`, `:` and the quotes (and, as for every part, control characters and `..`).
 * `#` is not a `word` character but older dialogIds used it.
 */
const DIALOG_ID = /^[A-Za-z0-9_.+@#*!%`~()<>[\]?{}-]+$/
const DIALOG_ID_CHARACTERS = 'letters, digits and _ . + @ # * - ! % ` ~ ( ) < > [ ] ? { }'
const MAX_PART_LENGTH = 128

/** True for a dialogId this service accepts (the rule above); used for names found on disk too. */
export function isValidDialogId(value: string): boolean {
  return value !== '' && value.length <= MAX_PART_LENGTH && DIALOG_ID.test(value) && !value.includes('..')
}

/** True for an agent extension or ani (non-empty) this service accepts. */
export function isValidPart(value: string): boolean {
  return value !== '' && value.length <= MAX_PART_LENGTH && PART.test(value) && !value.includes('..')
}

function checkPart(name: string, value: string, allowEmpty: boolean, pattern = PART, characters = PART_CHARACTERS): void {
  if (value === '') {
    if (allowEmpty) return
    throw new BadLegIdError(`${name} is empty`)
  }
  if (value.length > MAX_PART_LENGTH) throw new BadLegIdError(`${name} is longer than ${MAX_PART_LENGTH} characters`)
  if (!pattern.test(value)) {
    throw new BadLegIdError(`${name} ${JSON.stringify(value)} contains characters other than ${characters}`)
  }
  if (value.includes('..')) throw new BadLegIdError(`${name} ${JSON.stringify(value)} contains ".."`)
}

/**
 * Parses `dialogId:agentExtension:ani:legStartTime`. The router has already percent-decoded the path
 * segment once; a legId that still has no colon but `%3A` was encoded twice and is decoded again. One
 * that has its colons is not: a Call-ID may hold `%` (`x%3Ay` is then part of it, not a separator).
 * An empty ani is allowed: anonymous callers have none.
 */
export function parseLegId(raw: string): LegKey {
  let text = raw
  if (!text.includes(':') && /%3a/i.test(text)) {
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
  checkPart('dialogId', dialogId, false, DIALOG_ID, DIALOG_ID_CHARACTERS)
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
