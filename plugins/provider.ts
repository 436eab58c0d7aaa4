import fp from 'fastify-plugin'
import { RecordingResolver } from '../src/http/recording-resolver.js'
import { createProvider } from '../src/providers/index.js'
import { InstrumentedProvider } from '../src/providers/instrumented.js'
import type { LegCache } from '../src/providers/leg-cache.js'
import type { RecordingProvider } from '../src/providers/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The configured recording vendor (uncached). */
    provider: RecordingProvider
    /** Cached, shared look-ups of a call's legs (LEG_CACHE_TTL_MS). */
    legs: LegCache
    /** Leg ID → servable virtual WAV, with leg and layout caches. */
    recordings: RecordingResolver
  }
}

export interface ProviderPluginOptions {
  /** A ready provider (tests, demo); the caller then owns it and closes it. Default: from config. */
  provider?: RecordingProvider
}

export default fp<ProviderPluginOptions>(
  async (app, opts) => {
    const owned = opts.provider === undefined
    const raw = opts.provider ?? createProvider(app.config, app.log.child({ vendor: app.config.vendor }), app.metrics)
    // Everything (retrieval, push job, readiness) goes through the metered provider.
    const provider = new InstrumentedProvider(raw, app.metrics)
    const recordings = new RecordingResolver(provider, {
      ttlMs: app.config.legCacheTtlMs,
      recheckBeyondMs: app.config.push.matchToleranceMs
    })
    app.decorate('provider', provider)
    app.decorate('legs', recordings.legs)
    app.decorate('recordings', recordings)
    // Runs after the HTTP server has stopped and in-flight responses have finished.
    if (owned) app.addHook('onClose', async () => provider.close())
  },
  { name: 'provider', dependencies: ['metrics'] }
)
