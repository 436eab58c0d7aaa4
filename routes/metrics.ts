import type { FastifyPluginAsync } from 'fastify'
import { requireBearer } from '../src/auth/bearer.js'

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
      ...(token === null
        ? {}
        : {
            onRequest: requireBearer(token, 'cx-recording-gateway metrics', {
              missing: 'An Authorization: Bearer <METRICS_TOKEN> header is required',
              invalid: 'The metrics token is not valid'
            })
          })
    },
    async (_request, reply) => {
      const text = await app.metrics.render()
      return reply.type(app.metrics.registry.contentType).send(text)
    }
  )
}

export default metricsRoutes
