import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errorBodyOf, OverloadedError, RateLimitedError, RETRY_AFTER_S } from '../src/errors.js'
import { isDescriptorShortage, PressureMonitor, type PressureKind } from '../src/health/pressure.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Per-route say over shedding: routes that must never be shed (liveness, readiness, metrics) set one
     * that returns undefined, and the request then proceeds.
     */
    pressureHandler?: (request: FastifyRequest, reply: FastifyReply, type: PressureKind, value: number | undefined) => unknown
  }
  interface FastifyInstance {
    /** The process's own load (event loop, heap, RSS, file descriptors); see src/health/pressure.ts. */
    pressure: PressureMonitor
    /** True while a request that may be shed would be. */
    isUnderPressure(): boolean
  }
}

/** Between two warnings about shedding: one line per episode of pressure, not one per refused request. */
const SHED_LOG_EVERY_MS = 10_000

/**
 * Load protection, registered before every route so that it sees every route:
 * - while the event loop delay, the heap or the RSS is above its configured limit (0 = that limit is
 *   off), or file descriptors are short (90 % of the limit used, or an EMFILE met), requests are refused
 *   with 503 + Retry-After, except on routes whose `pressureHandler` lets them through;
 * - @fastify/rate-limit allows RATE_LIMIT_MAX requests per client IP per RATE_LIMIT_WINDOW_MS on every
 *   route that does not opt out (`config: { rateLimit: false }`: health, metrics, docs), answering 429 +
 *   Retry-After. The client IP honours TRUST_PROXY.
 */
export default fp(
  async (app) => {
    const { pressure, rateLimit: limits } = app.config
    const monitor = new PressureMonitor(pressure)
    monitor.start()
    app.decorate('pressure', monitor)
    app.decorate('isUnderPressure', () => monitor.overLimit() !== null)
    app.addHook('onClose', async () => monitor.stop())
    let lastShedLog = 0

    app.addHook('onRequest', (request, reply, done) => {
      const kind = monitor.overLimit()
      if (kind === null) return done()
      const override = request.routeOptions.config.pressureHandler
      if (override !== undefined && override(request, reply, kind, undefined) === undefined) return done()
      const now = Date.now()
      if (now - lastShedLog >= SHED_LOG_EVERY_MS) {
        lastShedLog = now
        request.log.warn({ pressure: kind, why: monitor.describe() }, 'under pressure: refusing requests with 503')
      }
      // Short of descriptors, the connection itself is one: it is closed once the refusal is written.
      if (kind === 'fileDescriptors') void reply.header('connection', 'close')
      // Answered here rather than thrown: the error handler would log every refused request as an error.
      void reply.code(503).header('retry-after', String(RETRY_AFTER_S)).send(errorBodyOf(new OverloadedError()))
    })
    // A request that failed for want of a descriptor says so before the next sample would.
    app.addHook('onError', (_request, _reply, err, done) => {
      if (isDescriptorShortage(err)) monitor.noteDescriptorShortage()
      done()
    })

    await app.register(rateLimit, {
      global: true,
      max: limits.max,
      timeWindow: limits.windowMs,
      errorResponseBuilder: (_request, context) =>
        new RateLimitedError(String(context.max), humanMs(limits.windowMs), context.after)
    })
  },
  { name: 'protection' }
)

function humanMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  if (ms % 1000 === 0) return `${ms / 1000} s`
  return `${ms} ms`
}
