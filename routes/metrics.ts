import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'

/** Hashing first makes both sides the same length, so the comparison time says nothing about the token. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * `GET /metrics` in Prometheus text format. Never rate limited and never shed under pressure: an
 * overloaded gateway is exactly when its figures are wanted. With METRICS_TOKEN set, scrapers send
 * `Authorization: Bearer <METRICS_TOKEN>`.
 */
const metricsRoutes: FastifyPluginAsync = async (app) => {
  const token = app.config.metricsToken

  app.get(
    '/metrics',
    {
      config: { rateLimit: false, pressureHandler: () => undefined },
      // HEAD would render every metric to send none of them.
      exposeHeadRoute: false,
      onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
        if (token === null) return
        const m = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')
        if (m === null || !sameSecret(m[1]!.trim(), token)) {
          return reply
            .code(401)
            .header('www-authenticate', 'Bearer realm="cx-recording-gateway metrics"')
            .send({ statusCode: 401, code: 'GW_ERR_UNAUTHORIZED', error: 'Unauthorized', message: 'An Authorization: Bearer <METRICS_TOKEN> header is required' })
        }
      }
    },
    async (_request, reply) => {
      const text = await app.metrics.render()
      return reply.type(app.metrics.registry.contentType).send(text)
    }
  )
}

export default metricsRoutes
