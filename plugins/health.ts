import fp from 'fastify-plugin'
import { Readiness } from '../src/health/readiness.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Readiness checks behind /health/ready; add one with `app.readiness.add(name, check)`. */
    readiness: Readiness
  }
}

/**
 * Readiness for load balancers. Registers the `vendor` check (Eleveo answers / the EFSwitch database
 * answers `select 1`, through provider.ping) and a live `pressure` check (the load limits, file descriptors included),
 * starts the background loop when the app listens, and stops it, answering 503, as soon as the app
 * starts closing. Needs the `provider` plugin (and `protection` for the pressure check).
 */
export default fp(
  async (app) => {
    const log = app.log.child({ component: 'health' })
    const readiness = new Readiness({
      intervalMs: app.config.healthCheckIntervalMs,
      onChange: (name, result) => {
        if (result.status === 'ok') log.info({ check: name }, 'readiness check passes')
        else log.warn({ check: name, error: result.error }, 'readiness check fails')
      }
    })
    app.decorate('readiness', readiness)

    readiness.add('vendor', (signal) => app.provider.ping(signal))
    if (app.hasDecorator('pressure')) {
      readiness.addLive('pressure', () => (app.isUnderPressure() ? { status: 'failing', error: app.pressure.describe() } : { status: 'ok' }))
    }

    // On listen rather than on ready: only a listening gateway has probes to answer, and an app used
    // through inject (tests, tools) then never sends the vendor requests it did not ask for.
    app.addHook('onListen', async () => readiness.start())
    // Node's server.close() closes the keep-alive connections idle at that moment only; one whose
    // response was still streaming would then sit idle until keepAliveTimeout (72 s) and hold the
    // shutdown. While draining, idle connections are closed as soon as their response ends.
    let sweep: NodeJS.Timeout | null = null
    app.addHook('preClose', async () => {
      readiness.shutDown()
      sweep = setInterval(() => app.server.closeIdleConnections(), 100)
      sweep.unref()
    })
    app.addHook('onClose', async () => {
      if (sweep) clearInterval(sweep)
    })
  },
  { name: 'health', dependencies: ['provider'] }
)
