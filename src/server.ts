import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'

/*
 * Process entry: configuration from the environment, listen, and shut down gracefully on SIGTERM/SIGINT
 * (stop accepting, let in-flight responses finish within SHUTDOWN_TIMEOUT_MS, release upstream pools).
 */

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
    app.log.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      app.log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting with responses still open')
      process.exit(1)
    }, config.shutdownTimeoutMs)
    force.unref()
    app.close().then(
      () => process.exit(0),
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
