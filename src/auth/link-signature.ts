import { createHmac, timingSafeEqual } from 'node:crypto'

/*
 * Links pushed to CX carry `?sig=<base64url HMAC-SHA256(legId)>` so that only holders of a pushed link
 * can fetch a recording. Old keys keep verifying during a rotation; only the current key signs.
 */

export function signLegId(legId: string, key: string): string {
  return createHmac('sha256', key).update(legId, 'utf8').digest('base64url')
}

export type SignatureCheck = 'valid' | 'missing' | 'invalid'

export function verifyLegSignature(legId: string, sig: string | undefined, keys: readonly string[]): SignatureCheck {
  if (sig === undefined || sig === '') return 'missing'
  const given = Buffer.from(sig, 'utf8')
  let valid = false
  // Every key is checked, even after a match, so the time taken does not tell which key matched.
  for (const key of keys) {
    const expected = Buffer.from(signLegId(legId, key), 'utf8')
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true
  }
  return valid ? 'valid' : 'invalid'
}
