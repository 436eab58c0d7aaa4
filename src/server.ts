import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'

/*
 * Process entry: configuration from the environment, listen, and shut down gracefully on SIGTERM/SIGINT:
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

async function main(): Promise<void> {
  const config = configOrExit()
  const app = await buildApp({ config })

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
}

main().catch((err: unknown) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
