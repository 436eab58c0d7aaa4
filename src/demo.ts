import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCxSimulator, type SimVoiceActivity } from '../simulators/cx.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'
import { MERGED_CALL_ID, mergedCallParts } from './demo/calls.js'
import { CALLREC_MERGED_CALL_ID, callrecMergedCouples, startCallrecDemo } from './demo/callrec.js'
import { DEMO_ELEVEO_PASSWORD, DEMO_ELEVEO_USER, writeDemoCalls } from './demo/data.js'

/*
 * `npm run demo`: the whole flow on one machine with nothing but `npm ci`. Starts the CX and Eleveo
 * simulators on loopback with a few synthetic calls (WAVs written in JavaScript), the gateway pointed at
 * them (signed links, an admin token, state in a temporary directory), runs one push and prints the
 * links CX received, then serves until Ctrl-C. DEMO_PORT picks the gateway's port (default 3000; 0: any
 * free port). LOG_LEVEL sets the gateway's log level (default warn, to keep the output readable).
 *
 * `npm run demo -- --callrec`: the same with Eleveo reached as CallREC installations expose it
 * (ELEVEO_API=callrec): couples in a throw-away PostgreSQL, servlets simulated, MP3 recordings.
 */

const HOST = '127.0.0.1'

/** A port the OS says is free now (DEMO_PORT=0). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, HOST, resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return address.port
}

function demoPort(): number | Promise<number> {
  const raw = process.env.DEMO_PORT?.trim() ?? ''
  if (raw === '') return 3000
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new Error(`DEMO_PORT: expected a port number, got ${JSON.stringify(raw)}`)
  return Number(raw) === 0 ? freePort() : Number(raw)
}

/** The recorder side of the demo: what the gateway is pointed at, and what CX will report. */
interface DemoRecorder {
  /** The gateway's ELEVEO_* settings. */
  env: Record<string, string>
  activities: SimVoiceActivity[]
  titles: Map<string, string>
  /** Printout lines naming the simulated recorder. */
  describe: string[]
  mergedDialogId: string
  /** How to fetch and look at the merged recording from its link. */
  download(url: string): string[]
  close(): Promise<void>
}

/** Eleveo's modelled REST API with WAV recordings (the default). */
async function restRecorder(dir: string): Promise<DemoRecorder> {
  const data = await writeDemoCalls(dir, Date.now())
  const eleveo = await startEleveoSimulator({ username: DEMO_ELEVEO_USER, password: DEMO_ELEVEO_PASSWORD, legs: data.eleveoLegs })
  const parts = mergedCallParts()
  return {
    env: { ELEVEO_BASE_URL: eleveo.url, ELEVEO_USERNAME: DEMO_ELEVEO_USER, ELEVEO_PASSWORD: DEMO_ELEVEO_PASSWORD },
    activities: data.activities,
    titles: data.titles,
    describe: [`  Eleveo simulator  ${eleveo.url}`],
    mergedDialogId: MERGED_CALL_ID,
    download: (url) => [
      `Download the recording merged from its ${parts.length} HOLD-split parts (${parts.map((p) => `${p.seconds} s`).join(' + ')} of tones):`,
      `  curl -o merged.wav '${url}'`
    ],
    close: () => eleveo.close()
  }
}

/** Eleveo as CallREC: couples in a throw-away PostgreSQL, servlets handing out MP3s. */
async function callrecRecorder(): Promise<DemoRecorder> {
  const demo = await startCallrecDemo(Date.now())
  const couples = callrecMergedCouples()
  return {
    env: demo.env,
    activities: demo.activities,
    titles: demo.titles,
    describe: [`  CallREC servlets  ${demo.servletsUrl}`, `  CallREC database  ${demo.databaseUrl}   (schema callrec, times in ${demo.env.ELEVEO_TIMEZONE})`],
    mergedDialogId: CALLREC_MERGED_CALL_ID,
    download: (url) => [
      `Download the recording joined from its ${couples.length} couples (${couples.map((c) => `${c.seconds} s`).join(' + ')} of MP3 tones, 8 kHz mono) and look at it:`,
      `  curl -o merged.mp3 '${url}'`,
      '  ffprobe -hide_banner merged.mp3'
    ],
    close: () => demo.close()
  }
}

async function main(): Promise<void> {
  const port = await demoPort()
  const dir = await mkdtemp(join(tmpdir(), 'cx-recording-gateway-demo-'))
  const recorder = process.argv.slice(2).includes('--callrec') ? await callrecRecorder() : await restRecorder(dir)
  const cx = await startCxSimulator({ activities: recorder.activities })
  const adminToken = randomBytes(18).toString('base64url')
  const gatewayUrl = `http://${HOST}:${port}`

  const config = loadConfig({
    RECORDING_VENDOR: 'eleveo',
    ...recorder.env,
    // The simulator's recordings are complete at once; a real Eleveo needs its processing time.
    PROCESSING_DELAY_S: '0',
    CX_BASE_URL: cx.url,
    CX_TOKEN_URL: cx.tokenUrl,
    // The simulator's default Keycloak client and user.
    CX_CLIENT_ID: 'cim',
    CX_CLIENT_SECRET: 'cim-client-secret',
    CX_USERNAME: 'gateway',
    CX_PASSWORD: 'gateway-password',
    PUBLIC_BASE_URL: gatewayUrl,
    HOST,
    PORT: String(port),
    STATE_DIR: join(dir, 'state'),
    ADMIN_TOKEN: adminToken,
    LINK_SIGNING_KEY: randomBytes(32).toString('base64url'),
    HEALTH_CHECK_INTERVAL_MS: '5000',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn'
  })

  const app = await buildApp({ config })
  let closing = false
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return
    closing = true
    process.stdout.write(`\n${signal}: stopping the gateway and the simulators…\n`)
    void (async () => {
      await app.close()
      await Promise.all([cx.close(), recorder.close()])
      await rm(dir, { recursive: true, force: true })
      process.stdout.write('Stopped.\n')
      process.exit(0)
    })().catch((err: unknown) => {
      process.stderr.write(`Error while stopping: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    })
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)

  try {
    await app.listen({ host: HOST, port })
  } catch (err) {
    await app.close()
    await Promise.all([cx.close(), recorder.close()])
    await rm(dir, { recursive: true, force: true })
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`port ${port} is in use: run with DEMO_PORT=<another port>, or DEMO_PORT=0 for any free one`)
    }
    throw err
  }

  const runner = app.pushRunner
  if (runner === null) throw new Error('pushing is disabled; the demo configuration should enable it')
  const report = await runner.start('manual').done
  if (report === null || report.status !== 'ok') {
    throw new Error(`the push run did not succeed: ${report === null ? 'nothing ran' : (report.error ?? report.status)}`)
  }

  const links = cx.received.map((r) => ({ legId: r.legId, url: r.mediaUrl }))
  const merged = links.find((l) => l.legId.startsWith(`${recorder.mergedDialogId}:`))
  const out: string[] = [
    '',
    'cx-recording-gateway demo',
    `  gateway           ${gatewayUrl}   (GET /health/ready, /metrics, /openapi.json)`,
    `  CX simulator      ${cx.url}`,
    ...recorder.describe,
    `  admin token       ${adminToken}`,
    '',
    `Push run ${report.id}: ${report.status}, ${report.pushed} links pushed to CX ` +
      `(${report.calls} calls, ${report.legs} legs, ${report.matched} matched, ${report.pending} pending)`,
    '',
    'Links CX received (signed):'
  ]
  // In the order of the calls, not the order the concurrent pushes happened to land in.
  for (const [legId, title] of recorder.titles) {
    const link = links.find((l) => l.legId === legId)
    out.push(`  ${title}`, `    ${link?.url ?? '(not pushed)'}`)
  }
  if (merged !== undefined) {
    out.push(
      '',
      ...recorder.download(merged.url),
      '',
      'Without its signature the same link is refused (401):',
      `  curl -i '${merged.url.split('?')[0] ?? merged.url}'`
    )
  }
  out.push(
    '',
    'The last push run, as an operator sees it:',
    `  curl -H 'Authorization: Bearer ${adminToken}' ${gatewayUrl}/admin/push-runs/latest`,
    '',
    'Serving until Ctrl-C.',
    ''
  )
  process.stdout.write(out.join('\n'))
}

main().catch((err: unknown) => {
  process.stderr.write(`Demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
