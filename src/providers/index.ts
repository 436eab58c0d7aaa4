import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import { EfswitchProvider } from './efswitch/provider.js'
import { CallrecProvider } from './eleveo/callrec/provider.js'
import { EleveoProvider } from './eleveo/provider.js'
import type { RecordingProvider } from './types.js'

/** The provider the configuration names. Config validation has already checked its settings are present. */
export function createProvider(config: Config, log: FastifyBaseLogger): RecordingProvider {
  switch (config.vendor) {
    case 'eleveo': {
      const { baseUrl, username, password, timeoutMs, callrec } = config.eleveo
      if (baseUrl === null) throw new Error('ELEVEO_BASE_URL is required when RECORDING_VENDOR=eleveo')
      if (config.eleveo.api === 'callrec') {
        if (callrec === null || username === null || password === null) {
          throw new Error('ELEVEO_API=callrec needs ELEVEO_DATABASE_URL, ELEVEO_USERNAME and ELEVEO_PASSWORD')
        }
        return new CallrecProvider({ baseUrl, username, password, timeoutMs, ...callrec })
      }
      if (username === null) log.warn('ELEVEO_USERNAME is not set: requests to Eleveo carry no credentials')
      return new EleveoProvider({ baseUrl, username, password, timeoutMs })
    }
    case 'efswitch': {
      const { databaseUrl, recordingsRoot, pathQuery } = config.efswitch
      if (databaseUrl === null) throw new Error('EFSWITCH_DATABASE_URL is required when RECORDING_VENDOR=efswitch')
      if (recordingsRoot === null) throw new Error('EFSWITCH_RECORDINGS_ROOT is required when RECORDING_VENDOR=efswitch')
      return new EfswitchProvider({ databaseUrl, recordingsRoot, pathQuery, log })
    }
  }
}
