import type { RawLeg } from './merge-hold.js'

/** Thrown for a metadata answer that does not follow the contract; the provider turns it into a 502. */
export class EleveoContractError extends Error {
  override readonly name = 'EleveoContractError'
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

// ISO 8601 with a date and a time; an offset or Z is required so no timestamp depends on our time zone.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/

function instant(value: Json | undefined, where: string, nullable: boolean): number | null {
  if (value === null || value === undefined) {
    if (nullable) return null
    throw new EleveoContractError(`${where} is missing`)
  }
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) {
    throw new EleveoContractError(`${where} is not an ISO 8601 timestamp with a time zone: ${preview(value)}`)
  }
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new EleveoContractError(`${where} is not a valid date: ${preview(value)}`)
  return ms
}

function text(value: Json | undefined, where: string, allowEmpty: boolean): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value !== 'string') throw new EleveoContractError(`${where} is not a string: ${preview(value)}`)
  if (!allowEmpty && value.trim() === '') throw new EleveoContractError(`${where} is empty`)
  return value
}

function preview(value: Json | undefined): string {
  const s = value === undefined ? 'undefined' : JSON.stringify(value)
  return s.length > 60 ? `${s.slice(0, 60)}…` : s
}

/**
 * Validates `GET /api/recordings?dialogId=` (`{ legs: [{ id, dialogId, agentExtension, ani, start, end,
 * endReason }] }`) strictly: anything else means we are not talking to the Eleveo we were built for,
 * and guessing would link or stream the wrong audio. Extension and ANI may come as numbers (telephone
 * systems do that) and are normalised to strings; an anonymous caller's ani may be null or empty.
 */
export function parseLegsResponse(body: string, dialogId: string): RawLeg[] {
  let doc: Json
  try {
    doc = JSON.parse(body) as Json
  } catch {
    throw new EleveoContractError(`the answer is not JSON (starts with ${JSON.stringify(body.slice(0, 40))})`)
  }
  if (!isObject(doc) || !Array.isArray(doc.legs)) {
    throw new EleveoContractError(`expected an object with a "legs" array`)
  }
  const seen = new Set<string>()
  return doc.legs.map((item, i): RawLeg => {
    const where = `legs[${i}]`
    if (!isObject(item)) throw new EleveoContractError(`${where} is not an object`)
    const id = text(item.id, `${where}.id`, false)
    if (seen.has(id)) throw new EleveoContractError(`${where}.id ${JSON.stringify(id)} appears twice`)
    seen.add(id)
    const legDialog = text(item.dialogId, `${where}.dialogId`, false)
    // Dialog ids are often GUIDs, which systems print in either case; any other difference is a wrong answer.
    if (legDialog.toLowerCase() !== dialogId.toLowerCase()) {
      throw new EleveoContractError(`${where} belongs to dialog ${JSON.stringify(legDialog)}, not the requested ${JSON.stringify(dialogId)}`)
    }
    const start = instant(item.start, `${where}.start`, false) as number
    const end = instant(item.end, `${where}.end`, true)
    if (end !== null && end < start) throw new EleveoContractError(`${where} ends before it starts`)
    const endReason = item.endReason
    if (endReason !== undefined && endReason !== null && typeof endReason !== 'string') {
      throw new EleveoContractError(`${where}.endReason is not a string: ${preview(endReason)}`)
    }
    return {
      id,
      dialogId,
      agentExtension: text(item.agentExtension, `${where}.agentExtension`, false),
      ani: item.ani === null ? '' : text(item.ani, `${where}.ani`, true),
      start,
      end,
      endReason: endReason ?? null
    }
  })
}
