import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import { EfswitchProvider } from './efswitch/provider.js'
import { EleveoProvider } from './eleveo/provider.js'
import type { RecordingProvider } from './types.js'

/** The provider the configuration names. Config validation has already checked its settings are present. */
export function createProvider(config: Config, log: FastifyBaseLogger, metrics?: Metrics): RecordingProvider {
  switch (config.vendor) {
    case 'eleveo': {
      const { baseUrl, username, password, timeoutMs } = config.eleveo
      if (baseUrl === null) throw new Error('ELEVEO_BASE_URL is required when RECORDING_VENDOR=eleveo')
      if (username === null) log.warn('ELEVEO_USERNAME is not set: requests to Eleveo carry no credentials')
      return new EleveoProvider({ baseUrl, username, password, timeoutMs })
    }
    case 'efswitch': {
      const { databaseUrl, recordingsRoot, pathQuery, queryTimeoutMs, indexMaxEntries } = config.efswitch
      if (databaseUrl === null) throw new Error('EFSWITCH_DATABASE_URL is required when RECORDING_VENDOR=efswitch')
      if (recordingsRoot === null) throw new Error('EFSWITCH_RECORDINGS_ROOT is required when RECORDING_VENDOR=efswitch')
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
