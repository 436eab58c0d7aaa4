import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

const HOST = '0.0.0.0'
const CX_SIM_PORT = 8081
const ELEVEO_SIM_PORT = 8082

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cx-recording-gateway-simulators-'))
  const data = await writeDemoCalls(dir, Date.now())
  const eleveo = await startEleveoSimulator({
    username: DEMO_ELEVEO_USER,
    password: DEMO_ELEVEO_PASSWORD,
    legs: data.eleveoLegs,
    listen: { host: HOST, port: ELEVEO_SIM_PORT }
  })
  const cx = await startCxSimulator({
    activities: data.activities,
    listen: { host: HOST, port: CX_SIM_PORT },
    onAccept: (msg) => {
      const title = data.titles.get(msg.legId) ?? 'unknown leg'
      process.stdout.write(`CX received a link (${title}): ${msg.mediaUrl}\n`)
    }
  })
  process.stdout.write(
    `CX simulator on :${CX_SIM_PORT} (/conversation-manager, Keycloak token endpoint), ` +
      `Eleveo simulator on :${ELEVEO_SIM_PORT}: ${data.activities.length} CX legs of ${new Set(data.activities.map((a) => a.dialogId)).size} calls\n`
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
