import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { verifyLegSignature } from '../src/auth/link-signature.js'
import { ForbiddenError, UnauthorizedError } from '../src/errors.js'
import { formatLegId, parseLegId } from '../src/legs/leg-id.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route serves a pushed link: `:legId` must come with `?sig=` (when LINK_SIGNING_KEY is set). */
    signedLink?: boolean
  }
}

function sigOf(request: FastifyRequest): unknown {
  const query = request.query
  return query !== null && typeof query === 'object' ? (query as Record<string, unknown>).sig : undefined
}

/**
 * Only holders of a pushed link fetch recordings: routes marked `config: { signedLink: true }` check
 * `?sig=` (HMAC-SHA256 of the canonical legId, see src/auth/link-signature.ts) in onRequest, before any
 * upstream call and after the rate limit (so guessing signatures is rate limited too). Missing: 401;
 * wrong: 403. Signed with LINK_SIGNING_KEY or one of LINK_SIGNING_KEYS_OLD (rotation).
 * Without LINK_SIGNING_KEY nothing is checked, and start-up says so. Register before the routes.
 */
export default fp(
  async (app) => {
    const { key, oldKeys } = app.config.linkSigning
    if (key === null) {
      app.log.warn('LINK_SIGNING_KEY is not set: pushed links are unsigned and recordings are served to anyone who knows a leg ID')
      return
    }
    const keys = [key, ...oldKeys]

    const verify: onRequestAsyncHookHandler = async (request) => {
      // A malformed legId is a 400 whether signed or not: it tells a client that mangled a link what is wrong,
      // and says nothing about any recording. The signature covers the canonical form, so a link whose colons
      // a client percent-encoded still verifies.
      const legId = formatLegId(parseLegId((request.params as { legId?: string }).legId ?? ''))
      const sig = sigOf(request)
      if (sig === undefined || sig === '') {
        throw new UnauthorizedError('This recording link needs its signature (?sig=…): use the link exactly as CX received it')
      }
      // An array (?sig=a&sig=b) is never valid.
      if (typeof sig !== 'string' || verifyLegSignature(legId, sig, keys) !== 'valid') {
        throw new ForbiddenError('The signature of this recording link is not valid')
      }
    }

    app.addHook('onRoute', (route) => {
      if (route.config?.signedLink !== true) return
      const existing = route.onRequest
      route.onRequest = [...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]), verify]
    })
  },
  { name: 'link-auth' }
)
