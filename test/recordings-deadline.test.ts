import { join } from 'node:path'
import t from 'tap'
import { makeTone } from './helpers/sox.js'
import { makeHoldCall, startRig } from './recordings-setup.js'

/*
 * An Eleveo that answers one byte every 1.5 s never trips the 2 s idle timeout (ELEVEO_TIMEOUT_MS in
 * these tests): every listing and every header read has a total deadline of ELEVEO_TIMEOUT_MS, after
 * which the client gets a 504 naming what was being read.
 */

for (const target of ['metadata', 'audio'] as const) {
  t.test(`a ${target === 'metadata' ? 'listing' : 'WAV header'} trickling one byte every 1.5 s: 504 after ELEVEO_TIMEOUT_MS`, async (t) => {
    const rig = await startRig(t)
    const call = await makeHoldCall(rig.dir, 'dlg-trickle', {}, [0.5])
    rig.sim.legs.push(...call.legs)
    rig.sim.setFault('trickle', { target })

    const res = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })
    t.equal(res.statusCode, 504)
    t.match(res.json(), {
      statusCode: 504,
      code: 'GW_ERR_UPSTREAM_TIMEOUT',
      error: 'Gateway Timeout',
      message: target === 'metadata'
        ? /recordings of dialog dlg-trickle: no complete answer within 2000 ms/
        : /audio of recording dlg-trickle-rec-0: no complete answer within 2000 ms/
    })
    const trickled = rig.sim.requests.filter((r) => r.url.includes('trickle') && r.url.includes('/audio') === (target === 'audio'))
    t.equal(trickled.length, 1)
    // The simulator hears of the cut a moment later.
    const deadline = Date.now() + 10_000
    while (!trickled.every((r) => r.aborted) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    t.ok(trickled.every((r) => r.aborted), 'the trickling request was cut')
  })
}

t.test('the deadline does not cut audio: a long recording streams past ELEVEO_TIMEOUT_MS to a slow reader', async (t) => {
  const rig = await startRig(t, { env: { ELEVEO_TIMEOUT_MS: '300' } })
  const call = await makeHoldCall(rig.dir, 'dlg-long', {}, [0.5])
  const long = await makeTone(join(rig.dir, 'long.wav'), { seconds: 20, rate: 48_000, channels: 2 })
  rig.sim.legs.push(...call.legs.map((l) => ({ ...l, wavPath: long })))
  const stream = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}`, payloadAsStream: true })
  t.equal(stream.statusCode, 200)
  let received = 0
  for await (const chunk of stream.stream()) {
    received += (chunk as Buffer).length
    // Reading slowly: the whole body takes well over 300 ms.
    if (received < 64 * 1024 * 8) await new Promise((resolve) => setTimeout(resolve, 60))
  }
  t.equal(received, Number(stream.headers['content-length']), 'every byte arrived')
})
