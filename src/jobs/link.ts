import { signLegId } from '../auth/link-signature.js'
import type { Config } from '../config.js'

/**
 * The link CX gets for one leg. The one place links are built: with LINK_SIGNING_KEY set it carries
 * `?sig=` (HMAC-SHA256 of the legId), which GET /recordings/:legId requires.
 */
export function recordingLink(config: Pick<Config, 'publicBaseUrl' | 'linkSigning'>, legId: string): string {
  const url = `${config.publicBaseUrl}/recordings/${encodeURIComponent(legId)}`
  const key = config.linkSigning.key
  return key === null ? url : `${url}?sig=${signLegId(legId, key)}`
}
