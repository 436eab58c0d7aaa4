import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from './app.js'
import type { CodeCacheState } from './bundle-loader.js'
import { ConfigError, loadConfig, type Config } from './config.js'

/*
 * The service process (started by src/server.ts): configuration from the environment, listen, and shut down gracefully on SIGTERM/SIGINT:
 * stop accepting (the listener closes; requests on connections still open get 503, /health/ready says
 * shutting_down), let responses in flight finish and the current push run end, both within
 * SHUTDOWN_TIMEOUT_MS, then release pools and exit 0. Streams still running at the deadline are cut;
 * if closing still hangs HARD_EXIT_AFTER_MS later, the process exits 1.
 */

/** After the deadline has cut the remaining connections, how long closing may still take. */
const HARD_EXIT_AFTER_MS = 10_000

function configOrExit(): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${err.variable}: ${err.message.slice(err.variable.length + 2)}\n`)
      process.exit(1)
    }
    throw err
  }
}

/** How this process loaded its code: from the production bundle (with or without its code cache) or module by module. */
export type CodeLoading = CodeCacheState | 'modules'

export async function serve(loading: CodeLoading): Promise<void> {
  const config = configOrExit()
  const app = await buildApp({ config })
  if (loading === 'rejected') {
    app.log.warn('the code cache beside the bundle was built by another Node version or with other V8 flags; start-up compiles everything (run npm run build again)')
  }

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    app.log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: draining responses in flight')
    const deadline = setTimeout(() => {
      app.log.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timeout reached: cutting the responses still in flight')
      app.server.closeAllConnections()
      const hard = setTimeout(() => {
        app.log.error({ afterMs: HARD_EXIT_AFTER_MS }, 'shutdown still not complete; exiting')
        process.exit(1)
      }, HARD_EXIT_AFTER_MS)
      hard.unref()
    }, config.shutdownTimeoutMs)
    deadline.unref()
    app.close().then(
      () => {
        app.log.info('shut down')
        process.exit(0)
      },
      (err: unknown) => {
        app.log.error({ err }, 'error while shutting down')
        process.exit(1)
      }
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)

  await app.listen({ host: config.host, port: config.port })
  app.log.info({ startupMs: Math.round(performance.now()), code: loading }, 'started')
}

/**
 * What the build runs once after bundling, so that V8's code cache it writes holds the functions start-up
 * compiles, not only the top level: the app built and asked for /health/live with the default
 * configuration (an Eleveo URL), its state in a temporary directory, logs dropped, nothing listening.
 */
export async function warmUp(): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cxgw-warm-up-'))
  try {
    const config = loadConfig({
      RECORDING_VENDOR: 'eleveo',
      ELEVEO_BASE_URL: 'http://127.0.0.1:9',
      ELEVEO_USERNAME: 'warm-up',
      ELEVEO_PASSWORD: 'warm-up',
      STATE_DIR: stateDir
    })
    const app = await buildApp({ config, logger: { level: 'silent' } })
    await app.inject({ url: '/health/live' })
    await app.close()
  } finally {
    await rm(stateDir, { recursive: true, force: true })
  }
}
