import t from 'tap'
import { LegCache } from '../src/retrieval/leg-cache.js'
import type { VendorLeg } from '../src/recording.js'
import { readFile } from 'node:fs/promises'
import { makeTone } from './helpers/sox.js'
import { T0, iso, makeHoldCall, metadataRequests, startRig } from './recordings-setup.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('concurrent requests for one call share one Eleveo look-up; the TTL bounds reuse', async (t) => {
  // Latency keeps the first look-up in flight while the others arrive.
  // A TTL no slow machine gets near between two requests; expiry is checked below with one that is surely over.
  const rig = await startRig(t, { env: { LEG_CACHE_TTL_MS: '60000' }, sim: { latencyMs: 50 } })
  const call = await makeHoldCall(rig.dir, 'dlg-cache', {}, [1, 1])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`

  const answers = await Promise.all([
    rig.app.inject({ method: 'GET', url }),
    rig.app.inject({ method: 'HEAD', url }),
    rig.app.inject({ method: 'GET', url, headers: { range: 'bytes=0-99' } })
  ])
  t.same(answers.map((a) => a.statusCode), [200, 200, 206])
  t.equal(metadataRequests(rig.sim).length, 1, 'three concurrent requests, one metadata call')

  await rig.app.inject({ method: 'HEAD', url })
  t.equal(metadataRequests(rig.sim).length, 1, 'within the TTL the cached legs are used')

  // A short TTL, and a wait longer than it: however slow the machine, the entry has expired.
  const brief = await startRig(t, { env: { LEG_CACHE_TTL_MS: '50' } })
  brief.sim.legs.push(...call.legs)
  await brief.app.inject({ method: 'HEAD', url })
  t.equal(metadataRequests(brief.sim).length, 1)
  await sleep(200)
  await brief.app.inject({ method: 'HEAD', url })
  t.equal(metadataRequests(brief.sim).length, 2, 'after the TTL Eleveo is asked again')
})

t.test('a failed look-up is not cached', async (t) => {
  const rig = await startRig(t, { env: { LEG_CACHE_TTL_MS: '60000' } })
  const call = await makeHoldCall(rig.dir, 'dlg-cache-fail', {}, [1])
  rig.sim.legs.push(...call.legs)
  rig.sim.setFault('error500', { dialogId: 'dlg-cache-fail', target: 'metadata' })
  t.equal((await rig.app.inject({ method: 'HEAD', url: `/recordings/${call.legId}` })).statusCode, 502)
  rig.sim.setFault(null, { dialogId: 'dlg-cache-fail' })
  t.equal((await rig.app.inject({ method: 'HEAD', url: `/recordings/${call.legId}` })).statusCode, 200)
  t.equal(metadataRequests(rig.sim).length, 2)
})

t.test('LEG_CACHE_TTL_MS=0 disables the cache', async (t) => {
  const rig = await startRig(t, { env: { LEG_CACHE_TTL_MS: '0' } })
  const call = await makeHoldCall(rig.dir, 'dlg-nocache', {}, [1])
  rig.sim.legs.push(...call.legs)
  for (let i = 0; i < 3; i++) await rig.app.inject({ method: 'HEAD', url: `/recordings/${call.legId}` })
  t.equal(metadataRequests(rig.sim).length, 3)
})

/** A provider whose look-ups finish only when the test says so. */
function controllableProvider(): {
  findLegs: (dialogId: string, signal?: AbortSignal) => Promise<VendorLeg[]>
  calls: { dialogId: string; signal: AbortSignal | undefined; resolve: (legs: VendorLeg[]) => void; reject: (e: Error) => void }[]
} {
  const calls: ReturnType<typeof controllableProvider>['calls'] = []
  return {
    calls,
    findLegs(dialogId, signal) {
      return new Promise((resolve, reject) => {
        calls.push({ dialogId, signal, resolve, reject })
        signal?.addEventListener('abort', () => reject(new Error('upstream aborted')), { once: true })
      })
    }
  }
}

const LEG: VendorLeg = { dialogId: 'd', agentExtension: '1', ani: '2', start: 0, end: null, segments: [{ id: 's' }] }

t.test("one caller giving up does not abort the shared look-up for the others", async (t) => {
  const provider = controllableProvider()
  const cache = new LegCache(provider, { ttlMs: 10_000 })
  const leaving = new AbortController()
  const first = cache.findLegs('d', leaving.signal)
  const second = cache.findLegs('d', new AbortController().signal)
  const third = cache.findLegs('d')
  t.equal(provider.calls.length, 1, 'one upstream call')

  leaving.abort(new Error('client left'))
  await t.rejects(first, { message: 'client left' }, 'the caller that left gets its abort reason')
  t.equal(provider.calls[0]?.signal?.aborted, false, 'the shared call goes on')
  provider.calls[0]?.resolve([LEG])
  t.same(await second, [LEG])
  t.same(await third, [LEG])
  t.same(await cache.findLegs('d'), [LEG], 'cached')
  t.equal(provider.calls.length, 1)
})

t.test('when every caller has given up, the upstream call is aborted and not reused', async (t) => {
  const provider = controllableProvider()
  const cache = new LegCache(provider, { ttlMs: 10_000 })
  const a = new AbortController()
  const b = new AbortController()
  const pa = cache.findLegs('d', a.signal)
  const pb = cache.findLegs('d', b.signal)
  a.abort()
  t.equal(provider.calls[0]?.signal?.aborted, false)
  b.abort()
  await t.rejects(pa)
  await t.rejects(pb)
  t.equal(provider.calls[0]?.signal?.aborted, true, 'nobody waits any more: upstream aborted')

  const again = cache.findLegs('d')
  t.equal(provider.calls.length, 2, 'the next caller starts a fresh look-up')
  provider.calls[1]?.resolve([LEG])
  t.same(await again, [LEG])
})

t.test('an already-aborted signal is refused without asking upstream', async (t) => {
  const provider = controllableProvider()
  const cache = new LegCache(provider, { ttlMs: 10_000 })
  await t.rejects(cache.findLegs('d', AbortSignal.abort(new Error('gone'))), { message: 'gone' })
  t.equal(provider.calls.length, 0)
})

t.test('a link to a leg recorded after the listing was cached is served from a fresh look-up, not another leg', async (t) => {
  const rig = await startRig(t, { env: { LEG_CACHE_TTL_MS: '60000', MATCH_TOLERANCE_MS: '5000' } })
  const first = await makeHoldCall(rig.dir, 'dlg-late', {}, [1])
  rig.sim.legs.push(...first.legs)
  const firstAnswer = await rig.app.inject({ method: 'GET', url: `/recordings/${first.legId}` })
  t.equal(firstAnswer.statusCode, 200)
  t.equal(metadataRequests(rig.sim).length, 1)

  // The call is transferred: a second agent's leg, 90 s later, shows up in Eleveo while the listing is cached.
  const laterStart = T0 + 90_000
  const laterPath = `${rig.dir}/dlg-late-transfer.wav`
  await makeTone(laterPath, { seconds: 2, freq: 900 })
  rig.sim.legs.push({
    id: 'dlg-late-rec-transfer',
    dialogId: 'dlg-late',
    agentExtension: '2002',
    ani: first.ani,
    start: iso(laterStart),
    end: iso(laterStart + 2000),
    endReason: 'HANGUP',
    wavPath: laterPath
  })
  const later = await rig.app.inject({ method: 'GET', url: `/recordings/dlg-late:2002:${encodeURIComponent(first.ani)}:${laterStart}` })
  t.equal(later.statusCode, 200)
  t.equal(metadataRequests(rig.sim).length, 2, 'the cached listing had no leg near that start: Eleveo was asked again')
  t.same(later.rawPayload.subarray(44), (await readFile(laterPath)).subarray(44), 'the late leg itself is served')
  t.not(later.rawPayload.length, firstAnswer.rawPayload.length)

  await rig.app.inject({ method: 'HEAD', url: `/recordings/${first.legId}` })
  t.equal(metadataRequests(rig.sim).length, 2, 'a cached listing with a close leg is still used as is')
})
