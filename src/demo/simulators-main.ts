import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startCxSimulator } from '../../simulators/cx.js'
import { startEleveoSimulator } from '../../simulators/eleveo.js'
import { DEMO_ELEVEO_PASSWORD, DEMO_ELEVEO_USER, writeDemoCalls } from './data.js'

/*
 * The compose trial's stand-ins for CX and Eleveo (`docker compose up`, service `simulators`): the CX
 * simulator on :8081 (Keycloak token endpoint and conversation manager) and the Eleveo simulator on
 * :8082, serving the calls of `npm run demo` dated relative to their start. Each link CX accepts is
 * printed, so `docker compose logs simulators` shows what the gateway pushed. Fixed ports and the demo's
 * credentials: compose.yaml points the gateway at them.
 */

const CX_SIM_PORT = 8081
const ELEVEO_SIM_PORT = 8082

/** compose.yaml runs it without arguments; `--host 127.0.0.1 --cx-port 0 --eleveo-port 0` runs it beside other servers (tests). */
function listenOptions(): { host: string; cxPort: number; eleveoPort: number } {
  const { values } = parseArgs({ options: { host: { type: 'string' }, 'cx-port': { type: 'string' }, 'eleveo-port': { type: 'string' } }, strict: true })
  const port = (raw: string | undefined, def: number): number => {
    if (raw === undefined) return def
    if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new Error(`expected a port number, got ${JSON.stringify(raw)}`)
    return Number(raw)
  }
  return { host: values.host ?? '0.0.0.0', cxPort: port(values['cx-port'], CX_SIM_PORT), eleveoPort: port(values['eleveo-port'], ELEVEO_SIM_PORT) }
}

async function main(): Promise<void> {
  const { host, cxPort, eleveoPort } = listenOptions()
  const dir = await mkdtemp(join(tmpdir(), 'cx-recording-gateway-simulators-'))
  const data = await writeDemoCalls(dir, Date.now())
  const eleveo = await startEleveoSimulator({
    username: DEMO_ELEVEO_USER,
    password: DEMO_ELEVEO_PASSWORD,
    legs: data.eleveoLegs,
    listen: { host, port: eleveoPort }
  })
  const cx = await startCxSimulator({
    activities: data.activities,
    listen: { host, port: cxPort },
    onAccept: (msg) => {
      const title = data.titles.get(msg.legId) ?? 'unknown leg'
      process.stdout.write(`CX received a link (${title}): ${msg.mediaUrl}\n`)
    }
  })
  const portOf = (url: string): string => new URL(url).port
  process.stdout.write(
    `CX simulator on :${portOf(cx.url)} (/conversation-manager, Keycloak token endpoint), ` +
      `Eleveo simulator on :${portOf(eleveo.url)}: ${data.activities.length} CX legs of ${new Set(data.activities.map((a) => a.dialogId)).size} calls\n`
  )

  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    void Promise.all([cx.close(), eleveo.close()])
      .then(() => rm(dir, { recursive: true, force: true }))
      .then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`Error while stopping: ${err instanceof Error ? err.message : String(err)}\n`)
          process.exit(1)
        }
      )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`Simulators failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
