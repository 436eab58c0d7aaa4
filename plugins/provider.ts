import fp from 'fastify-plugin'
import { createProvider } from '../src/providers/index.js'
import { InstrumentedProvider } from '../src/providers/instrumented.js'
import type { RecordingProvider } from '../src/providers/types.js'
import { RecordingResolver } from '../src/retrieval/recording-resolver.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The configured recording vendor (uncached). */
    provider: RecordingProvider
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
    const raw = opts.provider ?? (await createProvider(app.config, app.log.child({ vendor: app.config.recorder.vendor }), app.metrics))
    // Everything (retrieval, push job, readiness) goes through the metered provider.
    const provider = new InstrumentedProvider(raw, app.metrics)
    const recordings = new RecordingResolver(provider, {
      ttlMs: app.config.legCacheTtlMs,
      recheckBeyondMs: app.config.push.matchToleranceMs,
      maxSegmentsPerLeg: app.config.retrieval.maxSegmentsPerLeg,
      maxRecordingBytes: app.config.retrieval.maxRecordingBytes,
      maxCachedBytes: app.config.retrieval.cacheMaxBytes
    })
    app.decorate('provider', provider)
    app.decorate('recordings', recordings)
    // Runs after the HTTP server has stopped and in-flight responses have finished.
    if (owned) app.addHook('onClose', async () => provider.close())
  },
  { name: 'provider', dependencies: ['metrics'] }
)
