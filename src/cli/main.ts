#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config.js'
import { BackfillError, runBackfill, summaryLine } from './backfill.js'
import { runDoctor } from './doctor.js'

/*
 * The operator's command line (package bin `cx-recording-gateway`, also in the image). It reads the same
 * environment as the server. Exit codes: 0 done / all checks pass, 1 a check or the run failed, 2 usage.
 */

const USAGE = `Usage:
  cx-recording-gateway doctor
      Checks the configuration in the environment against CX, the recording system, the state store
      and the signing key; one line each. Exit 0 only when every check passes.
  cx-recording-gateway backfill --from <ISO date-time> --to <ISO date-time> [--url <gateway URL>]
      Has the running gateway (default: this environment's HOST and PORT) push the links of that
      period, showing its progress, then a summary. Needs ADMIN_TOKEN.
`

class UsageError extends Error {}

function out(text: string): void {
  process.stdout.write(text)
}

/** An ISO 8601 date-time with an explicit offset, as an operator writes it (2026-12-01T00:00:00Z). */
function isoArg(name: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`--${name} is required`)
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new UsageError(`--${name} ${JSON.stringify(value)}: expected an ISO 8601 date-time with an offset, e.g. 2026-12-01T00:00:00Z`)
  }
  return value
}

function configOrExit(): Config {
  try {
    return loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`✗ configuration: ${err.message}\n  fix: set ${err.variable} as the README's configuration table says (\`cx-recording-gateway doctor\` checks it all)\n`)
    process.exit(1)
  }
}

/** Where this environment's gateway listens, as seen from the same host. */
function localGateway(config: Config): string {
  const wildcard = ['0.0.0.0', '::', ''].includes(config.host)
  const host = wildcard ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host
  return `http://${host}:${config.port}`
}

async function backfill(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, url: { type: 'string' } }, strict: true })
  const from = isoArg('from', values.from)
  const to = isoArg('to', values.to)
  if (Date.parse(from) >= Date.parse(to)) throw new UsageError('--from must be before --to')
  const config = configOrExit()
  if (config.adminToken === null) {
    process.stderr.write('✗ ADMIN_TOKEN is not set\n  fix: set it to the admin token the gateway runs with\n')
    return 1
  }
  try {
    const report = await runBackfill({ url: values.url ?? localGateway(config), adminToken: config.adminToken, from, to, tty: process.stdout.isTTY === true, write: out })
    out(`${summaryLine(report)}\n`)
    return report.status === 'ok' ? 0 : 1
  } catch (err) {
    if (!(err instanceof BackfillError)) throw err
    process.stderr.write(`✗ ${err.message}\n  fix: ${err.fix}\n`)
    return 1
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'doctor':
      if (rest.length > 0) throw new UsageError(`doctor takes no arguments, got ${rest.join(' ')}`)
      return (await runDoctor(process.env, (line) => out(`${line}\n`))) ? 0 : 1
    case 'backfill':
      return backfill(rest)
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE)
      return command === undefined ? 2 : 0
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
      process.exit(2)
    }
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  }
)
