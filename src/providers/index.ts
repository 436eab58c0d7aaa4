import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { EfswitchProvider } from './efswitch/provider.js'
import { CallrecProvider } from './eleveo/callrec/provider.js'
import { EleveoProvider } from './eleveo/provider.js'
import type { RecordingProvider } from './types.js'

/** The provider the configuration names (loadConfig has checked its settings are present). */
export function createProvider(config: Pick<Config, 'recorder'>, log: FastifyBaseLogger, metrics?: Metrics): RecordingProvider {
  const recorder = config.recorder
  switch (recorder.vendor) {
    case 'eleveo': {
      if (recorder.api === 'callrec') {
        const { vendor: _vendor, api: _api, ...options } = recorder
        return new CallrecProvider(options)
      }
      const { baseUrl, username, password, timeoutMs, connections } = recorder
      if (username === null) log.warn('ELEVEO_USERNAME is not set: requests to Eleveo carry no credentials')
      return new EleveoProvider({ baseUrl, username, password, timeoutMs, connections })
    }
    case 'efswitch': {
      const { databaseUrl, recordingsRoot, pathQuery, queryTimeoutMs, indexMaxEntries } = recorder
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
