import t from 'tap'
import { request } from 'undici'
import { listeningOrigin, startGatewayProcess } from './helpers/gateway-process.js'
import { SIM_PASSWORD, SIM_USER } from './recordings-setup.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'

/*
 * /health/ready must tell a load balancer the truth within HEALTH_CHECK_INTERVAL_MS + the check timeout
 * (max(interval, 2 s)) when the vendor hangs, whatever the garbage collector does. The real process runs
 * with a collection every 20 ms: on Node 20 that is what made an AbortSignal.timeout() inside
 * AbortSignal.any() vanish unfired, and readiness stayed on its last result for as long as Eleveo hung.
 */

interface Report {
  status: string
  checks: Record<string, { status: string; error?: string }>
}

const GC_OFTEN = 'data:text/javascript,setInterval(()=>globalThis.gc(),20).unref()'

async function readyUntil(origin: string, want: (status: number, report: Report) => boolean, timeoutMs: number): Promise<Report> {
  const deadline = Date.now() + timeoutMs
  let last: [number, Report] | null = null
  while (Date.now() < deadline) {
    const res = await request(`${origin}/health/ready`)
    const report = (await res.body.json()) as Report
    if (want(res.statusCode, report)) return report
    last = [res.statusCode, report]
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`readiness never changed as expected; last answer ${JSON.stringify(last)}`)
}

t.test('a hanging vendor makes /health/ready 503 within the stated bound, and 200 again once it answers', async (t) => {
  const sim = await startEleveoSimulator({ username: SIM_USER, password: SIM_PASSWORD, slowMs: 120_000 })
  t.teardown(() => sim.close())
  const gw = startGatewayProcess(
    t,
    'ready-hang',
    {
      RECORDING_VENDOR: 'eleveo',
      ELEVEO_BASE_URL: sim.url,
      ELEVEO_USERNAME: SIM_USER,
      ELEVEO_PASSWORD: SIM_PASSWORD,
      // Far beyond the test: only readiness's own deadline can end a hanging check.
      ELEVEO_TIMEOUT_MS: '600000',
      HEALTH_CHECK_INTERVAL_MS: '200',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info'
    },
    { nodeArgs: ['--expose-gc', `--import=${GC_OFTEN}`] }
  )
  const origin = await listeningOrigin(gw)

  await readyUntil(origin, (status) => status === 200, 20_000)

  sim.setFault('slow', { target: 'metadata' })
  // Stated bound: 200 ms interval + 2 s check timeout. Polled for far longer, so only a check that
  // never ends fails this; how long it took is not asserted.
  const failing = await readyUntil(origin, (status, r) => status === 503 && r.checks.vendor?.status === 'failing', 30_000)
  t.equal(failing.status, 'unavailable')
  t.match(failing.checks.vendor?.error, /no answer within 2000 ms/)

  sim.setFault(null)
  const again = await readyUntil(origin, (status) => status === 200, 30_000)
  t.equal(again.checks.vendor?.status, 'ok', 'ready again once Eleveo answers')
  t.notOk(gw.exited(), 'the process still runs')
})
