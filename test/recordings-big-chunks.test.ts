import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { padFmtChunk } from './helpers/padded-fmt.js'
import { soxSamples } from './helpers/sox.js'
import { findChunk } from './helpers/wav-craft.js'
import { makeHoldCall, metadataRequests, startRig } from './recordings-setup.js'

/*
 * Memory a stored file's header can make us hold: only the meaningful bytes of a `fmt ` chunk are kept
 * (and served), and the listing and layout caches are bounded by bytes, not only by entries.
 */

t.test('a 600 KiB fmt chunk: the served header carries an 18-byte fmt, and sox reads the same samples', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-fat-fmt', {}, [0.6, 0.4])
  for (const path of call.paths) await padFmtChunk(path, 600 * 1024)
  rig.sim.legs.push(...call.legs)

  const res = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })
  t.equal(res.statusCode, 200)
  const served = res.rawPayload
  t.equal(findChunk(served, 'fmt ').size, 18, 'fmt: the 16 PCM bytes and a cbSize of 0, no padding')
  t.ok(served.length < 20_000, `no padding in the body (${served.length} bytes)`)
  const out = join(rig.dir, 'served.wav')
  await writeFile(out, served)
  const expected = [...(await soxSamples(call.paths[0] as string)), ...(await soxSamples(call.paths[1] as string))]
  t.same([...(await soxSamples(out))], expected, 'sample for sample what sox reads from the stored parts')
})

t.test('LEG_CACHE_MAX_BYTES bounds the listing cache: the least recently used call is looked up again', async (t) => {
  const rig = await startRig(t, { env: { LEG_CACHE_MAX_BYTES: '4096' } })
  const calls = []
  for (let i = 0; i < 12; i++) {
    const call = await makeHoldCall(rig.dir, `dlg-cache-${i}`, {}, [0.1])
    rig.sim.legs.push(...call.legs)
    calls.push(call)
  }
  const head = async (legId: string): Promise<void> => {
    t.equal((await rig.app.inject({ method: 'HEAD', url: `/recordings/${legId}` })).statusCode, 200)
  }
  await head(calls[0]!.legId)
  await head(calls[0]!.legId)
  t.equal(metadataRequests(rig.sim).filter((r) => r.url.includes('dlg-cache-0')).length, 1, 'cached while it fits')
  for (const call of calls.slice(1)) await head(call.legId)
  await head(calls[0]!.legId)
  t.equal(metadataRequests(rig.sim).filter((r) => r.url.includes('dlg-cache-0')).length, 2, 'evicted once the others filled 4096 bytes')
})
