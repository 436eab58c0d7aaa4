import type { FastifyPluginAsync } from 'fastify'
import { RETRY_AFTER_S } from '../src/errors.js'

/** Never rate limited, never shed: probes must see the truth, and shedding them would flap instances. */
const probeConfig = { rateLimit: false, pressureHandler: () => undefined } as const

/**
 * Probes for load balancers and orchestrators. `live`: the process runs and its event loop answers.
 * `ready`: the last background checks passed (see src/health/readiness.ts); 503 with each check's result
 * otherwise, including while starting and while shutting down.
 */
const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health/live', { config: probeConfig, logLevel: 'warn' }, async () => ({ status: 'ok' }))

  app.get('/health/ready', { config: probeConfig, logLevel: 'warn' }, async (_request, reply) => {
    const report = app.readiness.report()
    if (report.status !== 'ok') void reply.code(503).header('retry-after', String(RETRY_AFTER_S))
    return report
  })
}

export default healthRoutes
