import { performance } from 'node:perf_hooks'
import fp from 'fastify-plugin'
import { Metrics } from '../src/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus metrics (its own registry). */
    metrics: Metrics
  }
}

export interface MetricsPluginOptions {
  /** A registry to fill instead of a new one (tests). */
  metrics?: Metrics
}

/** Route label of requests no route matched: one series, whatever URLs scanners try. */
export const UNMATCHED_ROUTE = 'unmatched'

/**
 * Request counts and latencies by route template, method and status. Measured to the closing of the
 * response rather than Fastify's onResponse, which never runs for a stream the client abandoned: a
 * recording cut off halfway is still a request, with the time it took.
 */
export default fp<MetricsPluginOptions>(
  async (app, opts) => {
    const metrics = opts.metrics ?? new Metrics()
    app.decorate('metrics', metrics)

    app.addHook('onRequest', async (request, reply) => {
      const started = performance.now()
      reply.raw.once('close', () => {
        const labels = {
          route: request.routeOptions.url ?? UNMATCHED_ROUTE,
          method: request.method,
          status: String(reply.raw.statusCode)
        }
        metrics.httpRequests.inc(labels)
        metrics.httpDuration.observe(labels, (performance.now() - started) / 1000)
      })
    })
  },
  { name: 'metrics' }
)
