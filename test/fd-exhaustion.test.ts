import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { listeningOrigin, startGatewayProcess } from './helpers/gateway-process.js'
import { makeTone, tempDir } from './helpers/sox.js'
import { iso, SIM_PASSWORD, SIM_USER, T0 } from './recordings-setup.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'

/*
 * The real process under a 256-descriptor limit (prlimit), with 200 listeners who start a recording and
 * stop reading: each holds a client socket and an Eleveo socket. Caps that would have kept this from
 * happening are set high, so descriptors do run short. The process must stay up, refuse new work with
 * 503, say it is not ready, and recover once the listeners leave.
 */

interface Report {
  status: string
  checks: Record<string, { status: string; error?: string }>
}

const STALLED = 200

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

t.test('200 stalled listeners under a 256-descriptor limit: 503s and not-ready, no crash, then recovery', async (t) => {
  const dir = await tempDir(t, 'cxgw-fd-')
  const wav = await makeTone(join(dir, 'long.wav'), { seconds: 60, rate: 48_000, channels: 2 })
  const sim = await startEleveoSimulator({ username: SIM_USER, password: SIM_PASSWORD })
  t.teardown(() => sim.close())
  for (let i = 0; i <= STALLED; i++) {
    sim.legs.push({ id: `rec-${i}`, dialogId: `dlg-${i}`, agentExtension: '1001', ani: '+41', start: iso(T0), end: iso(T0 + 60_000), endReason: 'HANGUP', wavPath: wav })
  }
  const legId = (i: number): string => `dlg-${i}:1001:+41:${T0}`

  const gw = startGatewayProcess(
    t,
    'fd-limit',
    {
      RECORDING_VENDOR: 'eleveo',
      ELEVEO_BASE_URL: sim.url,
      ELEVEO_USERNAME: SIM_USER,
      ELEVEO_PASSWORD: SIM_PASSWORD,
      MAX_CONCURRENT_STREAMS: '1000',
      ELEVEO_CONNECTIONS: '1000',
      SEND_TIMEOUT_MS: '0',
      MAX_EVENT_LOOP_DELAY_MS: '0',
      RATE_LIMIT_MAX: '100000',
      HEALTH_CHECK_INTERVAL_MS: '500',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info'
    },
    { wrapper: ['prlimit', '--nofile=256:256'] }
  )
  const origin = await listeningOrigin(gw)
  const port = Number(new URL(origin).port)
  await until('ready', async () => ((await request(`${origin}/health/ready`)).statusCode === 200 ? true : undefined))

  const sockets: Socket[] = []
  t.teardown(() => sockets.forEach((s) => s.destroy()))
  for (let i = 0; i < STALLED; i++) {
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.pause()
    socket.write(`GET /recordings/${legId(i)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    sockets.push(socket)
  }

  const report = await until('not ready for want of descriptors', async () => {
    const res = await request(`${origin}/health/ready`)
    const body = (await res.body.json()) as Report
    return res.statusCode === 503 && /file descriptors/.test(body.checks.pressure?.error ?? '') ? body : undefined
  })
  t.equal(report.checks.pressure?.status, 'failing', 'readiness names the shortage')

  const refused = await until('a fresh recording request refused with 503', async () => {
    const res = await request(`${origin}/recordings/${legId(STALLED)}`)
    const body = (await res.body.json()) as { code?: string }
    return res.statusCode === 503 ? { res, body } : undefined
  })
  t.equal(refused.res.headers['retry-after'], '5')
  t.equal(refused.body.code, 'GW_ERR_OVERLOADED', 'shed as overloaded, not a 502 EMFILE')
  const live = await request(`${origin}/health/live`)
  t.equal(live.statusCode, 200, 'liveness answers')
  await live.body.dump()
  // Several samples (one a second) have run while short of descriptors.
  await new Promise((resolve) => setTimeout(resolve, 2500))
  t.notOk(gw.exited(), 'the process is still running')
  t.notOk(gw.lines.some((l) => /EMFILE/.test(l) && /uncaught|Uncaught/.test(l)), 'no uncaught EMFILE')

  for (const s of sockets) s.destroy()
  await until('ready again', async () => ((await request(`${origin}/health/ready`)).statusCode === 200 ? true : undefined))
  const served = await request(`${origin}/recordings/${legId(STALLED)}`, { method: 'HEAD' })
  t.equal(served.statusCode, 200, 'served again once the listeners left')
  await served.body.dump()
  t.notOk(gw.exited())
})
