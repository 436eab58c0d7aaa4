import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Client, request } from 'undici'
import { signLegId } from '../src/auth/link-signature.js'
import { testEnv } from './helpers/gateway-config.js'
import { makeTone, soxSamples, tempDir } from './helpers/sox.js'
import { cxLeg } from './push-rig.js'
import { startCxSimulator } from '../simulators/cx.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'

/*
 * Graceful shutdown of the real process: `node --import tsx src/server.ts` as a child, configured by
 * its environment against simulators started here. A long recording is being read (slowly) and a push
 * run is waiting on CX when SIGTERM arrives: the listener closes, the stream still ends with every
 * byte, the run finishes rather than being cut, and the process exits 0.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KEY = 'shutdown-test-signing-key-012345'

interface LogLine {
  msg?: string
  level?: number
  [k: string]: unknown
}

t.test('SIGTERM drains a stream in flight and the current push run, then exits 0', async (t) => {
  const dir = await tempDir(t, 'cxgw-shutdown-')
  // Far more than the socket buffers between the processes can hold, so the stream is still running.
  const wav = await makeTone(join(dir, 'long.wav'), { seconds: 240, rate: 16000, channels: 2 })
  const start = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
  const eleveo = await startEleveoSimulator({
    legs: [{ id: 'rec-long', dialogId: 'dlg-long', agentExtension: '1001', ani: '+41441234567', start: new Date(start).toISOString(), end: new Date(start + 240_000).toISOString(), endReason: 'HANGUP', wavPath: wav }]
  })
  t.teardown(() => eleveo.close())
  // CX answers slowly, so the scheduled push run is still under way when SIGTERM arrives.
  const cx = await startCxSimulator({ activities: [cxLeg('dlg-long', '1001', start)], latencyMs: 1500 })
  t.teardown(() => cx.close())

  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: testEnv({
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      RECORDING_VENDOR: 'eleveo',
      ELEVEO_BASE_URL: eleveo.url,
      ELEVEO_USERNAME: 'eleveo',
      ELEVEO_PASSWORD: 'eleveo-secret',
      PROCESSING_DELAY_S: '0',
      CX_BASE_URL: cx.url,
      CX_TOKEN_URL: cx.tokenUrl,
      CX_CLIENT_ID: 'cim',
      CX_CLIENT_SECRET: 'cim-client-secret',
      CX_USERNAME: 'gateway',
      CX_PASSWORD: 'gateway-password',
      PUBLIC_BASE_URL: 'http://gateway.invalid',
      PUSH_INTERVAL_S: '1',
      STATE_DIR: join(dir, 'state'),
      LINK_SIGNING_KEY: KEY,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '60000'
    }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const logs: LogLine[] = []
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  let pending = ''
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = []
  child.stdout.on('data', (d: Buffer) => {
    pending += d.toString()
    let nl: number
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      try {
        const parsed = JSON.parse(line) as LogLine
        logs.push(parsed)
        for (const w of [...waiters]) {
          if (!w.pred(parsed)) continue
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(parsed)
        }
      } catch {
        // not a log line
      }
    }
  })
  const logged = (pred: (l: LogLine) => boolean): Promise<LogLine> => {
    const found = logs.find(pred)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      waiters.push({ pred, resolve })
      void exited.then(([code]) => reject(new Error(`the gateway exited (${code}) before logging what was awaited; stderr: ${stderr}`)))
    })
  }

  const listening = await logged((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at http://127.0.0.1:'))
  const origin = /http:\/\/127\.0\.0\.1:\d+/.exec(listening.msg ?? '')?.[0]
  if (origin === undefined) throw new Error(`no address in ${listening.msg}`)

  const legId = `dlg-long:1001:+41441234567:${start}`
  const client = new Client(origin)
  t.teardown(() => client.destroy())
  const res = await client.request({ method: 'GET', path: `/recordings/${encodeURIComponent(legId)}?sig=${signLegId(legId, KEY)}` })
  t.equal(res.statusCode, 200)
  const total = Number(res.headers['content-length'])
  const chunks: Buffer[] = []
  let received = 0
  const reader = res.body[Symbol.asyncIterator]()
  const first = await reader.next()
  if (first.done === true) throw new Error('empty body')
  chunks.push(first.value as Buffer)
  received += (first.value as Buffer).length

  // A push run is waiting for CX's (slow) answer.
  await logged((l) => l.msg === 'push run started')
  child.kill('SIGTERM')
  await logged((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'))
  t.ok(received < total, `the stream is still in flight at SIGTERM (${received} of ${total} bytes read)`)

  // The listener closes: new connections are refused (polled: the close happens a few ticks later). A
  // connection that raced into the accept queue as the listener closed is reset instead: poll on then.
  let refused: unknown = null
  for (let i = 0; i < 200 && (refused as { code?: string } | null)?.code !== 'ECONNREFUSED'; i++) {
    try {
      const r = await request(`${origin}/health/live`, { reset: true })
      await r.body.dump()
    } catch (err) {
      refused = err
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.match(refused, { code: 'ECONNREFUSED' }, 'no new connections once shutting down')

  // Read the rest slowly.
  for (;;) {
    const next = await reader.next()
    if (next.done === true) break
    chunks.push(next.value as Buffer)
    received += (next.value as Buffer).length
    if (chunks.length % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.equal(received, total, 'every byte of the stream arrived')
  const [code, signal] = await exited
  t.equal(signal, null, 'not killed')
  t.equal(code, 0, `exit code 0 (stderr: ${stderr})`)

  const out = join(dir, 'served.wav')
  await writeFile(out, Buffer.concat(chunks))
  const [ours, theirs] = await Promise.all([soxSamples(out), soxSamples(wav)])
  t.equal(ours.length, theirs.length, 'as many samples as the recording')
  t.ok(Buffer.from(ours.buffer).equals(Buffer.from(theirs.buffer)), 'the same samples')

  const messages = logs.map((l) => l.msg)
  const stopAt = messages.findIndex((m) => typeof m === 'string' && m.startsWith('shutting down'))
  t.ok(messages.indexOf('push run ok') > stopAt, 'the push run under way finished after SIGTERM rather than being cut')
  t.equal(messages.filter((m) => m === 'push run started').length, 1, 'no new run started while shutting down')
  t.equal(cx.received.length, 1, 'its link reached CX')
  t.equal(messages.at(-1), 'shut down', 'the last word is a clean shutdown')
  t.notOk(logs.some((l) => (l.level ?? 0) >= 50), 'nothing logged as an error')
})
