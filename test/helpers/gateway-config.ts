import { loadConfig, type Config } from '../../src/config.js'

/*
 * The one place tests turn a gateway environment into a configuration. Load shedding
 * (MAX_EVENT_LOOP_DELAY_MS, MAX_HEAP_USED_BYTES, MAX_RSS_BYTES; plugins/protection.ts) reacts to the
 * machine, not to the request: on a loaded CI runner or a busy laptop the event loop of a test process
 * easily lags a second behind, and a test about Range slicing or push retries would then get a 503 it
 * never asked for. So every test gateway starts with shedding off; the tests about shedding
 * (test/protection.test.ts, the pressure case of test/openapi.test.ts) set the limit they assert on,
 * which wins over these.
 */

/** Every load-shedding limit off (0 = off, as in production). */
export const NO_SHEDDING: Readonly<Record<string, string>> = {
  MAX_EVENT_LOOP_DELAY_MS: '0',
  MAX_HEAP_USED_BYTES: '0',
  MAX_RSS_BYTES: '0'
}

/** A test gateway's environment: shedding off unless `env` sets a limit. Also for gateways run as processes. */
export function testEnv(env: Record<string, string>): Record<string, string> {
  return { ...NO_SHEDDING, ...env }
}

/** loadConfig over testEnv: how in-process test gateways get their configuration. */
export function testConfig(env: Record<string, string>): Config {
  return loadConfig(testEnv(env))
}
