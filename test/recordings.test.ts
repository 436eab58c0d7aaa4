import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { soxConcat, soxInfo, soxSamples, type ToneOptions } from './helpers/sox.js'
import { audioRequests, clientRequests, makeHoldCall, metadataRequests, startRig } from './recordings-setup.js'

const FORMATS: { name: string; tone: Omit<ToneOptions, 'seconds' | 'freq'> }[] = [
  { name: 'PCM 16-bit 8 kHz mono', tone: { encoding: 'pcm16', rate: 8000, channels: 1 } },
  { name: 'µ-law 8 kHz mono', tone: { encoding: 'ulaw', rate: 8000, channels: 1 } },
  { name: 'PCM 16-bit 8 kHz stereo', tone: { encoding: 'pcm16', rate: 8000, channels: 2 } }
]

for (const { name, tone } of FORMATS) {
  t.test(`a HOLD-split leg comes back as one WAV equal to sox's concatenation: ${name}`, async (t) => {
    const rig = await startRig(t)
    const call = await makeHoldCall(rig.dir, `dlg-${tone.encoding}-${tone.channels}`, tone)
    rig.sim.legs.push(...call.legs)

    const res = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'audio/wav')
    t.equal(res.headers['accept-ranges'], 'bytes')
    t.equal(Number(res.headers['content-length']), res.rawPayload.length, 'Content-Length is exact')
    t.match(res.headers.etag, /^"[A-Za-z0-9_-]+"$/)
    t.match(res.headers['cache-control'], /private/)

    const out = join(rig.dir, 'merged.wav')
    await writeFile(out, res.rawPayload)
    const ref = await soxConcat(call.paths, join(rig.dir, 'ref.wav'))
    const [ours, theirs] = await Promise.all([soxSamples(out), soxSamples(ref)])
    t.equal(ours.length, theirs.length, 'same number of samples as sox')
    t.ok(ours.length > 0)
    t.ok(Buffer.from(ours.buffer, ours.byteOffset, ours.byteLength).equals(Buffer.from(theirs.buffer, theirs.byteOffset, theirs.byteLength)), 'same samples as sox, in order')

    // The RIFF sizes must be right by themselves, not only as sox tolerates them.
    const wav = res.rawPayload
    t.equal(wav.toString('latin1', 0, 4), 'RIFF')
    t.equal(wav.readUInt32LE(4), wav.length - 8, 'RIFF size = file size - 8')
    const dataAt = wav.indexOf('data', 12, 'latin1')
    t.ok(dataAt > 0)
    t.equal(wav.readUInt32LE(dataAt + 4), wav.length - dataAt - 8 - ((wav.length - dataAt - 8) & 1), 'data size = bytes after its header')
    const [info, refInfo] = await Promise.all([soxInfo(out), soxInfo(ref)])
    t.equal(info.samples, refInfo.samples, 'header sample count matches sox')
    t.equal(info.channels, tone.channels)
    t.equal(info.sampleRate, tone.rate)

    t.equal(metadataRequests(rig.sim).length, 1, 'one metadata look-up')
    t.ok(audioRequests(rig.sim).every((r) => r.range !== undefined), 'every audio request is a Range request')
  })
}

t.test('HEAD answers the GET headers without fetching audio', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-head', {}, [5, 4.5, 6])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`

  const cold = await rig.app.inject({ method: 'HEAD', url })
  t.equal(cold.statusCode, 200)
  t.equal(cold.rawPayload.length, 0, 'no body')
  const probes = audioRequests(rig.sim)
  t.equal(probes.length, 3, 'one header probe per segment')
  t.ok(probes.every((r) => r.range === 'bytes=0-4095'), 'only the first 4 KiB of each segment (where its RIFF header is) is asked for')

  const get = await rig.app.inject({ method: 'GET', url })
  t.equal(get.statusCode, 200)
  for (const h of ['content-type', 'content-length', 'accept-ranges', 'etag', 'cache-control', 'content-disposition']) {
    t.equal(cold.headers[h], get.headers[h], `HEAD ${h} = GET ${h}`)
  }
  t.equal(Number(cold.headers['content-length']), get.rawPayload.length)

  const before = rig.sim.requests.length
  const warm = await rig.app.inject({ method: 'HEAD', url, headers: { range: 'bytes=100-199' } })
  t.equal(warm.statusCode, 206)
  t.equal(warm.headers['content-length'], '100')
  t.equal(warm.headers['content-range'], `bytes 100-199/${get.rawPayload.length}`)
  t.same(clientRequests({ requests: rig.sim.requests.slice(before) }), [], 'a HEAD with warm caches asks Eleveo nothing')
})

t.test('URL-encoded colons in the leg ID are accepted', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-enc', {}, [1])
  rig.sim.legs.push(...call.legs)
  const plain = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })
  const encoded = await rig.app.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(call.legId)}` })
  t.equal(plain.statusCode, 200)
  t.equal(encoded.statusCode, 200)
  t.ok(encoded.rawPayload.equals(plain.rawPayload))
})

t.test('the leg closest to legStartTime is served; the same agent wins a tie', async (t) => {
  const rig = await startRig(t)
  const a = await makeHoldCall(rig.dir, 'dlg-close', {}, [1])
  const other = await makeHoldCall(rig.dir, 'dlg-close-b', {}, [1.5])
  const start = Date.parse(a.legs[0]?.start ?? '')
  // Agent 2002's leg starts 4 s after agent 1001's; ask for the time exactly between them.
  rig.sim.legs.push(
    { ...(a.legs[0] as (typeof a.legs)[0]), id: 'leg-1001', endReason: 'TRANSFER' },
    { ...(other.legs[0] as (typeof other.legs)[0]), id: 'leg-2002', dialogId: 'dlg-close', agentExtension: '2002', start: new Date(start + 4000).toISOString(), end: null, endReason: null }
  )
  const tieFor2002 = await rig.app.inject({ method: 'GET', url: `/recordings/dlg-close:2002:x:${start + 2000}` })
  t.equal(tieFor2002.statusCode, 200)
  const tieFor1001 = await rig.app.inject({ method: 'GET', url: `/recordings/dlg-close:1001:x:${start + 2000}` })
  const nearer1001 = await rig.app.inject({ method: 'GET', url: `/recordings/dlg-close:2002:x:${start + 1000}` })
  t.not(tieFor2002.headers.etag, tieFor1001.headers.etag, 'a tie goes to the agent asked for')
  t.equal(nearer1001.headers.etag, tieFor1001.headers.etag, 'otherwise the nearest start wins whoever the agent')
  t.equal(Number(tieFor1001.headers['content-length']) < Number(tieFor2002.headers['content-length']), true, "1001's leg is the shorter one")
})
