import { createHash } from 'node:crypto'

/*
 * Name-based UUIDs (RFC 9562 version 5, SHA-1). CX does not tell whether it already holds a link, so
 * the message id is derived from the legId: the same leg always yields the same id, which gives CX a
 * stable key to de-duplicate on if it chooses to.
 */

/** This gateway's namespace. Fixed forever: changing it would change every message id. */
export const LEG_ID_NAMESPACE = '554162ef-2b98-4e23-9727-ad7325a9c28f'

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '')
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`not a UUID: ${uuid}`)
  return Buffer.from(hex, 'hex')
}

export function uuidV5(name: string, namespace: string = LEG_ID_NAMESPACE): string {
  const hash = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest()
  const b = hash.subarray(0, 16)
  b[6] = (b[6]! & 0x0f) | 0x50
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
