/** What an EFSwitch recording's file name says about its leg. */
export interface RecordingFileName {
  readonly dialogId: string
  readonly agentExtension: string
  readonly ani: string
  /** Epoch milliseconds. */
  readonly start: number
}

/*
 * The same character rules as a legId's parts (src/legs/leg-id.ts): a file whose parts could not appear
 * in a legId can never be asked for, so it is ignored rather than half-trusted.
 */
const PART = /^[A-Za-z0-9_.+@#*-]+$/
const START = /^\d{1,15}$/
const SUFFIX = /\.wav$/i

function validPart(value: string, allowEmpty: boolean): boolean {
  if (value === '') return allowEmpty
  return value.length <= 128 && PART.test(value) && !value.includes('..')
}

/**
 * Parses `<dialogId>:<agentExtension>:<ani>:<startEpochMs>.wav` (the switch's recording script names
 * files so when the channel is bridged; an anonymous caller leaves ani empty). Anything else: null.
 */
export function parseRecordingFileName(name: string): RecordingFileName | null {
  if (!SUFFIX.test(name)) return null
  const parts = name.slice(0, -'.wav'.length).split(':')
  if (parts.length !== 4) return null
  const [dialogId, agentExtension, ani, start] = parts as [string, string, string, string]
  if (!validPart(dialogId, false) || !validPart(agentExtension, false) || !validPart(ani, true)) return null
  if (!START.test(start)) return null
  return { dialogId, agentExtension, ani, start: Number(start) }
}

/** UUIDs compare case-insensitively; the database may print them differently from how CX sent them. */
export function sameDialogId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}
