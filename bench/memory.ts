import { get, type ClientRequest } from 'node:http'
import { join } from 'node:path'
import { Agent } from 'undici'
import { download, mb, report, row, rssOf, startBareNodeServer, startGateway, type Child } from './common.js'
import { BARE_PATHS, getRig, legId } from './rig.js'

/*
 * Resident memory of a fresh gateway process (`node dist/src/server.js`, RSS from /proc, nothing else
 * counted): idle SETTLE_MS after start beside the smallest Node HTTP server's; with HELD clients each
 * holding the same 60-minute leg open without reading (growth beside the bare proxy's growth for the same
 * clients); and one minute after a load (the held streams, then full downloads) has ended.
 */

const HELD = 100
const HOLD_MS = 5000
/** After start-up, before 'idle' is read: the readiness check has run and start-up's garbage is collected. */
const SETTLE_MS = 5000
const AFTER_LOAD_MS = Number(process.env.BENCH_AFTER_LOAD_S ?? 60) * 1000
const LOAD_PARALLEL = 8
const LOAD_ROUNDS = 3

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Opens `urls`, reads each response's first chunk and then stops reading: the server's writes back up
 * and only its flow control keeps its memory bounded. Returns the requests, to be destroyed.
 */
async function holdStreams(urls: readonly string[]): Promise<ClientRequest[]> {
  const held: ClientRequest[] = []
  await Promise.all(
    urls.map(
      (url) =>
        new Promise<void>((resolve, reject) => {
          const req = get(url, { agent: false }, (res) => {
            if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`))
            res.once('data', () => {
              res.pause()
              resolve()
            })
          })
          req.once('error', reject)
          held.push(req)
        })
    )
  )
  return held
}

/** RSS growth of `server` while HELD streams of `urlOf(i)` are held open. */
async function heldGrowth(server: Child, urlOf: (i: number) => string): Promise<number> {
  const before = (await rssOf(server.pid)).rss
  const held = await holdStreams(Array.from({ length: HELD }, (_, i) => urlOf(i)))
  await sleep(HOLD_MS)
  const during = (await rssOf(server.pid)).rss
  for (const req of held) req.destroy()
  return during - before
}

export async function runMemoryBench(): Promise<void> {
  const rig = await getRig()
  const bareNode = await startBareNodeServer()
  await sleep(SETTLE_MS)
  const bareIdle = (await rssOf(bareNode.pid)).rss
  await bareNode.stop()

  const gateway = await startGateway(rig.gatewayEnv(join(rig.dir, 'state-memory')))
  try {
    await sleep(SETTLE_MS)
    const idle = (await rssOf(gateway.pid)).rss
    console.log(`memory of the server process alone (VmRSS); held streams: ${HELD} clients reading nothing after the first chunk for ${HOLD_MS / 1000} s`)
    row('RSS idle after start', mb(idle), `node -e server ${mb(bareIdle)}`, idle / bareIdle, '<= 80 MB', idle <= 80 * 1024 * 1024)

    // The same leg as the bare proxy's (call 0, looked up once): the growth is the streams', not the caches'.
    const warm = new Agent()
    await download(`${gateway.url}/recordings/${legId(0)}`, warm)
    await warm.close()
    const growth = await heldGrowth(gateway, () => `${gateway.url}/recordings/${legId(0)}`)
    const bareGrowth = await heldGrowth(rig.bare, () => `${rig.bare.url}${BARE_PATHS.wav}`)
    row(`RSS growth, ${HELD} held streams`, mb(growth), `bare proxy ${mb(bareGrowth)}`, growth / Math.max(bareGrowth, 1), 'stated', null)
    report('  per held stream', `${(growth / HELD / 1024).toFixed(0)} KiB`, 'stated', null)
    report('RSS after the held streams closed', mb((await rssOf(gateway.pid)).rss), 'stated', null)

    const agent = new Agent({ connections: LOAD_PARALLEL })
    for (let r = 0; r < LOAD_ROUNDS; r++) {
      await Promise.all(Array.from({ length: LOAD_PARALLEL }, () => download(`${gateway.url}/recordings/${legId(0)}`, agent)))
    }
    await agent.close()
    const { peak, rss: afterDownloads } = await rssOf(gateway.pid)
    report(`RSS after ${LOAD_ROUNDS} x ${LOAD_PARALLEL} downloads`, mb(afterDownloads), 'stated', null)
    await sleep(AFTER_LOAD_MS)
    const after = (await rssOf(gateway.pid)).rss
    report('peak RSS (VmHWM) during the load', mb(peak), 'stated', null)
    row(`RSS ${AFTER_LOAD_MS / 1000} s after the load`, mb(after), `idle ${mb(idle)}`, after / idle, '<= 100 MB', after <= 100 * 1024 * 1024)
  } finally {
    await gateway.stop()
  }
}
