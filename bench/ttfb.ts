import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { parseWavLayout } from '../src/audio/wav/riff.js'
import type { BarePlan } from './bare-proxy.js'
import { BENCH_AUTH, median, row, startChild } from './common.js'
import { CALLS, getRig, LATENCY_MS, legId, segmentId, type Rig } from './rig.js'

/*
 * Time to first byte of a ranged request (64 KiB in the middle of the second segment, as a player seeking
 * sends), through the gateway and done by hand against the simulator, alternating, median of RUNS:
 * - warm: the gateway has looked the call up before; the baseline is the one direct segment request;
 * - beside warm, the same 64 KiB through the bare proxy (bare-proxy.ts: one ranged http.get piped into
 *   the response): what any proxy in front of the simulator adds, the floor for the warm ratio;
 * - cold: a call the gateway has never seen, so it must list the call's legs and read every segment's
 *   header before it can map the range; the baseline does the same by hand, the least any client could:
 *   the listing, then the three header reads in parallel, then the direct segment request.
 */

const RUNS = Number(process.env.BENCH_TTFB_RUNS ?? 30)
const RANGE_BYTES = 64 * 1024
const PROBE_BYTES = 4096

const agent = new Agent({ connections: 64 })

/** From sending the request to the first body byte; the rest of the body is dropped. */
async function firstByte(url: string, headers: Record<string, string>, expect: number): Promise<number> {
  const t0 = performance.now()
  const res = await request(url, { headers, dispatcher: agent })
  if (res.statusCode !== expect) throw new Error(`${url}: HTTP ${res.statusCode}, expected ${expect}`)
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (chunk.length > 0) break
  }
  return performance.now() - t0
}

async function getJson(url: string): Promise<unknown> {
  const res = await request(url, { headers: { authorization: BENCH_AUTH }, dispatcher: agent })
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`)
  return res.body.json()
}

async function getBytes(url: string, range: string): Promise<{ size: number; head: Buffer }> {
  const res = await request(url, { headers: { authorization: BENCH_AUTH, range }, dispatcher: agent })
  if (res.statusCode !== 206) throw new Error(`${url}: HTTP ${res.statusCode}`)
  const size = Number(/\/(\d+)$/.exec(String(res.headers['content-range']))?.[1])
  return { size, head: Buffer.from(await res.body.arrayBuffer()) }
}

/** The cold baseline: what a client that knows the contract has to do before the first audio byte. */
async function byHand(rig: Rig, n: number, virtualStart: number): Promise<number> {
  const t0 = performance.now()
  const { legs } = (await getJson(`${rig.sim.url}/api/recordings?dialogId=bench-d${n}`)) as { legs: { id: string; start: string }[] }
  const ordered = [...legs].sort((a, b) => Date.parse(a.start) - Date.parse(b.start))
  const layouts = await Promise.all(
    ordered.map(async (l) => {
      const { size, head } = await getBytes(`${rig.sim.url}/api/recordings/${l.id}/audio`, `bytes=0-${PROBE_BYTES - 1}`)
      return parseWavLayout(head, size)
    })
  )
  // Map the virtual offset to the second segment's file offset, as the gateway does.
  const [first, second] = layouts
  if (first === undefined || second === undefined || ordered[1] === undefined) throw new Error('the call has fewer than two segments')
  const fileStart = second.dataOffset + (virtualStart - rig.headerLength - first.dataLength)
  await firstByte(
    `${rig.sim.url}/api/recordings/${ordered[1].id}/audio`,
    { authorization: BENCH_AUTH, range: `bytes=${fileStart}-${fileStart + RANGE_BYTES - 1}` },
    206
  )
  return performance.now() - t0
}

export async function runTtfbBench(): Promise<void> {
  const rig = await getRig()
  const [seg0, seg1] = rig.segments
  if (seg0 === undefined || seg1 === undefined) throw new Error('the rig has fewer than two segments')
  // 64 KiB from the middle of the second segment, on a 2-byte sample boundary.
  const half = Math.floor(seg1.dataLength / 4) * 2
  const virtualStart = rig.headerLength + seg0.dataLength + half
  const gatewayRange = { range: `bytes=${virtualStart}-${virtualStart + RANGE_BYTES - 1}` }
  const directStart = seg1.dataOffset + half
  const directHeaders = { authorization: BENCH_AUTH, range: `bytes=${directStart}-${directStart + RANGE_BYTES - 1}` }

  // The bare proxy relays exactly the direct request's bytes: no prefix, one segment range.
  const barePlan: BarePlan = {
    contentType: 'audio/wav',
    prefix: '',
    suffix: '',
    size: RANGE_BYTES,
    segments: [{ path: `/api/recordings/${segmentId(0, 1)}/audio`, start: directStart, end: directStart + RANGE_BYTES - 1 }]
  }
  const planFile = join(rig.dir, 'bare-ttfb.json')
  await writeFile(planFile, JSON.stringify({ '/range': barePlan }))
  const bare = await startChild('bare', [planFile, rig.sim.url, BENCH_AUTH])
  try {
    await measure(rig, bare.url, { gatewayRange, directHeaders, virtualStart })
  } finally {
    await bare.stop()
  }
}

async function measure(
  rig: Rig,
  bareUrl: string,
  req: { gatewayRange: Record<string, string>; directHeaders: Record<string, string>; virtualStart: number }
): Promise<void> {
  const { gatewayRange, directHeaders, virtualStart } = req
  const direct: number[] = []
  const warm: number[] = []
  const bare: number[] = []
  const hand: number[] = []
  const cold: number[] = []
  // Calls 1.. are left for cold requests: nothing else asks the rig's gateway for them.
  if (RUNS * 2 + 1 > CALLS) throw new Error(`BENCH_TTFB_RUNS ${RUNS} needs more than the ${CALLS} calls of the rig`)
  await firstByte(`${rig.gateway.url}/recordings/${legId(0)}`, gatewayRange, 206)
  await firstByte(`${bareUrl}/range`, {}, 200)
  for (let i = 0; i < RUNS; i++) {
    direct.push(await firstByte(`${rig.sim.url}/api/recordings/${segmentId(0, 1)}/audio`, directHeaders, 206))
    warm.push(await firstByte(`${rig.gateway.url}/recordings/${legId(0)}`, gatewayRange, 206))
    bare.push(await firstByte(`${bareUrl}/range`, {}, 200))
    hand.push(await byHand(rig, 1 + RUNS + i, virtualStart))
    cold.push(await firstByte(`${rig.gateway.url}/recordings/${legId(1 + i)}`, gatewayRange, 206))
  }
  const [d, w, b, h, c] = [direct, warm, bare, hand, cold].map(median) as [number, number, number, number, number]
  console.log(`TTFB of a 64 KiB range in the middle of a 3-segment WAV leg, ${LATENCY_MS} ms upstream latency, median of ${RUNS} alternating`)
  row('warm TTFB (ms)', w.toFixed(2), `direct segment ${d.toFixed(2)}`, w / d, '<= 1.1', w / d <= 1.1)
  row('  the same bytes, bare proxy (ms)', b.toFixed(2), `direct segment ${d.toFixed(2)}`, b / d, 'none: any proxy adds this', null)
  row('cold TTFB (ms)', c.toFixed(2), `look-up by hand ${h.toFixed(2)}`, c / h, '<= 1.1', c / h <= 1.1)
}
