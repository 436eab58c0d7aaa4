import rateLimit from '@fastify/rate-limit'
import underPressure from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errorBodyOf, OverloadedError, RateLimitedError, RETRY_AFTER_S } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * @fastify/under-pressure's per-route override (its types do not declare it). Routes that must never
     * be shed (liveness, metrics) set one that returns undefined: the request then proceeds.
     */
    pressureHandler?: (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => unknown
  }
}

/** Between two warnings about shedding: one line per episode of pressure, not one per refused request. */
const SHED_LOG_EVERY_MS = 10_000

/**
 * Load protection, registered before every route so that both plugins see every route:
 * - @fastify/under-pressure refuses requests with 503 + Retry-After while the event loop delay, the heap
 *   or the RSS is above its configured limit (0 = that limit is off);
 * - @fastify/rate-limit allows RATE_LIMIT_MAX requests per client IP per RATE_LIMIT_WINDOW_MS on every
 *   route that does not opt out (`config: { rateLimit: false }`: health, metrics, docs), answering 429 +
 *   Retry-After. The client IP honours TRUST_PROXY.
 */
export default fp(
  async (app) => {
    const { pressure, rateLimit: limits } = app.config
    let lastShedLog = 0

    await app.register(underPressure, {
      maxEventLoopDelay: pressure.maxEventLoopDelayMs,
      maxHeapUsedBytes: pressure.maxHeapUsedBytes,
      maxRssBytes: pressure.maxRssBytes,
      retryAfter: RETRY_AFTER_S,
      pressureHandler: (request, reply, type, value) => {
        const now = Date.now()
        if (now - lastShedLog >= SHED_LOG_EVERY_MS) {
          lastShedLog = now
          request.log.warn({ pressure: type, value }, 'under pressure: refusing requests with 503')
        }
        // Answered here rather than thrown: the error handler would log every refused request as an error.
        void reply.code(503).header('retry-after', String(RETRY_AFTER_S)).send(errorBodyOf(new OverloadedError()))
      }
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
