import type { Config } from '../config.js'

/**
 * The link CX gets for one leg. The one place links are built, so that signing them (`?sig=`) is a
 * change here and nowhere else.
 */
export function recordingLink(config: Pick<Config, 'publicBaseUrl'>, legId: string): string {
  return `${config.publicBaseUrl}/recordings/${encodeURIComponent(legId)}`
}
