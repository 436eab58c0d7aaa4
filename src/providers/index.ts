import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { EleveoProvider } from './eleveo/provider.js'
import type { RecordingProvider } from './types.js'

/**
 * The provider the configuration names (loadConfig has checked its settings are present). CallREC and
 * EFSwitch are imported only when configured: they bring the PostgreSQL client, which the default
 * (Eleveo REST) gateway never needs, and every module loaded is start-up time.
 */
export async function createProvider(config: Pick<Config, 'recorder'>, log: FastifyBaseLogger, metrics?: Metrics): Promise<RecordingProvider> {
  const recorder = config.recorder
  switch (recorder.vendor) {
    case 'eleveo': {
      if (recorder.api === 'callrec') {
        const { vendor: _vendor, api: _api, ...options } = recorder
        const { CallrecProvider } = await import('./eleveo/callrec/provider.js')
        return new CallrecProvider(options)
      }
      const { baseUrl, username, password, timeoutMs, connections } = recorder
      if (username === null) log.warn('ELEVEO_USERNAME is not set: requests to Eleveo carry no credentials')
      return new EleveoProvider({ baseUrl, username, password, timeoutMs, connections })
    }
    case 'efswitch': {
      const { databaseUrl, recordingsRoot, pathQuery, queryTimeoutMs, indexMaxEntries } = recorder
      const { EfswitchProvider } = await import('./efswitch/provider.js')
      return new EfswitchProvider({
        databaseUrl,
        recordingsRoot,
        pathQuery,
        log,
        tuning: { queryTimeoutMs },
        indexMaxEntries,
        ...(metrics
          ? {
              onListing: ({ names }) => {
                metrics.efswitchListings.inc()
                metrics.efswitchNamesListed.inc(names)
              }
            }
          : {})
      })
    }
  }
}
