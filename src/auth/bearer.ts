import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { errorBodyOf, UnauthorizedError } from '../errors.js'

/** Hashing first makes both sides the same length, so the comparison time says nothing about the token. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * An onRequest hook admitting only `Authorization: Bearer <token>`; anything else gets a JSON 401 with
 * a `WWW-Authenticate` challenge naming `realm`.
 */
export function requireBearer(
  token: string,
  realm: string,
  messages: { readonly missing: string; readonly invalid: string }
): onRequestAsyncHookHandler {
  const unauthorized = (reply: FastifyReply, message: string): FastifyReply =>
    reply
      .code(401)
      .header('www-authenticate', `Bearer realm="${realm}"`)
      .send(errorBodyOf(new UnauthorizedError(message)))

  return async (request: FastifyRequest, reply: FastifyReply) => {
    const m = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')
    if (m === null) return unauthorized(reply, messages.missing)
    if (!sameSecret((m[1] ?? '').trim(), token)) return unauthorized(reply, messages.invalid)
  }
}
