import { isValidDialogId, isValidPart } from '../../legs/leg-id.js'

/** The audio formats a switch's recording script writes; the file's suffix says which. */
export type RecordingFormat = 'wav' | 'mp3'

/** What an EFSwitch recording's file name says about its leg. */
export interface RecordingFileName {
  readonly dialogId: string
  readonly agentExtension: string
  readonly ani: string
  /** Epoch milliseconds. */
  readonly start: number
  readonly format: RecordingFormat
}

const START = /^\d{1,15}$/
const SUFFIX = /\.(wav|mp3)$/i

/**
 * Parses `<dialogId>:<agentExtension>:<ani>:<startEpochMs>.wav` (or `.mp3`): the switch's recording
 * script names files so when the channel is bridged; an anonymous caller leaves ani empty. Parts must
 * obey the legId rules (src/legs/leg-id.ts): a file whose parts could not appear in a legId can never
 * be asked for, so it is ignored rather than half-trusted. Anything else: null.
 */
export function parseRecordingFileName(name: string): RecordingFileName | null {
  const suffix = SUFFIX.exec(name)
  if (suffix === null) return null
  const parts = name.slice(0, suffix.index).split(':')
  if (parts.length !== 4) return null
  const [dialogId, agentExtension, ani, start] = parts as [string, string, string, string]
  if (!isValidDialogId(dialogId) || !isValidPart(agentExtension) || (ani !== '' && !isValidPart(ani))) return null
  if (!START.test(start)) return null
  const format = suffix[1]!.toLowerCase() === 'mp3' ? 'mp3' : 'wav'
  return { dialogId, agentExtension, ani, start: Number(start), format }
}

/**
 * The key a file name is grouped under in a directory index: its dialogId, lower-cased (UUIDs are
 * printed in either case; Call-IDs that differ only in case do not occur in one switch's day). Null for
 * names that cannot be a recording, so they cost the index nothing.
 */
export function dialogKeyOfFileName(name: string): string | null {
  const colon = name.indexOf(':')
  if (colon <= 0 || !SUFFIX.test(name)) return null
  return dialogKey(name.slice(0, colon))
}

const UPPER_CASE = /[A-Z]/

/** The dialogId lower-cased; most are lower-case already and then cost no new string. */
export function dialogKey(dialogId: string): string {
  return UPPER_CASE.test(dialogId) ? dialogId.toLowerCase() : dialogId
}

/** UUIDs compare case-insensitively; the database may print them differently from how CX sent them. */
export function sameDialogId(a: string, b: string): boolean {
  return dialogKey(a) === dialogKey(b)
}
