import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { apeTag, decodeAgainstParts, ffprobeFormat, ffprobePackets, makeMp3 } from './helpers/mp3-tools.js'
import { makeTone } from './helpers/sox.js'
import { audioRequests, holdCall, iso, startRig, T0, type Rig } from './recordings-setup.js'
import { eventually } from './helpers/eventually.js'

/*
 * MP3 legs through the gateway: the Eleveo simulator serves the MP3 parts of a HOLD-split leg (as
 * CallREC stores couples), the gateway serves one MP3. Checked against ffprobe, ffmpeg and mpg123.
 */

// The 16 kbit/s part is longer than the gateway's 4 KiB first read, so counting it takes a request.
const SECONDS = [2.5, 3.5, 1.75]

/** 8 kHz mono MPEG-2.5 parts as call recorders write them, each with something to leave out. */
async function mp3HoldCall(rig: Rig, dialogId: string): Promise<ReturnType<typeof holdCall>> {
  const first = await makeMp3(rig.dir, `${dialogId}-0`, { seconds: SECONDS[0], freq: 300, lame: ['-b', '24', '--add-id3v2', '--tt', 'agent 1001'] })
  // 16 kbit/s: LAME writes no Info frame, so the gateway counts this part's frames.
  const second = await makeMp3(rig.dir, `${dialogId}-1`, { seconds: SECONDS[1], freq: 450, lame: ['-b', '16'] })
  const third = await makeMp3(rig.dir, `${dialogId}-2`, { seconds: SECONDS[2], freq: 600, lame: ['-V', '5'] })
  const thirdTagged = join(rig.dir, `${dialogId}-2-ape.mp3`)
  await writeFile(thirdTagged, Buffer.concat([third.bytes, apeTag({ Title: 'after hold' }, true)]))
  return holdCall(dialogId, [first.path, second.path, thirdTagged], SECONDS)
}

t.test('a HOLD-split MP3 leg is one MP3: frames of the parts in order, an exact Info frame, decodable', async (t) => {
  const rig = await startRig(t)
  const call = await mp3HoldCall(rig, 'dlg-mp3')
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`

  const res = await rig.app.inject({ method: 'GET', url })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'audio/mpeg')
  t.equal(res.headers['content-length'], String(res.rawPayload.length), 'exact Content-Length')
  t.equal(res.headers['content-disposition'], `inline; filename="${call.legId.replace(/:/g, '_')}.mp3"`)
  const served = join(rig.dir, 'served.mp3')
  await writeFile(served, res.rawPayload)

  const partPackets = await Promise.all(call.paths.map((p) => ffprobePackets(p)))
  const expected = partPackets.flat()
  const packets = await ffprobePackets(served)
  t.equal(packets.length, expected.length, 'every frame of every part, nothing else')
  t.ok(packets.every((p, i) => p.data.equals((expected[i] as { data: Buffer }).data)), 'byte-identical frames, in order')
  const format = await ffprobeFormat(served)
  t.equal(format.codec, 'mp3')
  t.equal(format.durationSeconds.toFixed(3), ((expected.length * 576) / 8000).toFixed(3), 'the Info frame gives ffprobe the exact duration')
  for (const r of await decodeAgainstParts(served, partPackets, join(rig.dir, 'dlg-mp3'), 1)) {
    t.equal(r.stderr, '', `${r.decoder}: no complaint`)
    t.equal(r.samples, r.partSamples, `${r.decoder}: as many samples as the parts`)
    t.equal(r.outside, 0, `${r.decoder}: the parts' samples, frame for frame (first difference at ${r.firstOutside})`)
  }

  // HEAD: the same headers, decided from the cached layouts without asking Eleveo again.
  const before = rig.sim.requests.length
  const head = await rig.app.inject({ method: 'HEAD', url })
  t.equal(head.statusCode, 200)
  t.equal(head.rawPayload.length, 0)
  for (const h of ['content-type', 'content-length', 'etag', 'accept-ranges']) t.equal(head.headers[h], res.headers[h], `HEAD ${h}`)
  t.equal(audioRequests({ requests: rig.sim.requests.slice(before) }).length, 0, 'cached layouts: HEAD asks Eleveo nothing')
})

t.test('layouts are found with small ranged reads, and one counting pass only where no Info frame counts', async (t) => {
  const rig = await startRig(t, { env: { LEG_CACHE_TTL_MS: '0' } })
  const call = await mp3HoldCall(rig, 'dlg-mp3-head')
  rig.sim.legs.push(...call.legs)
  const head = await rig.app.inject({ method: 'HEAD', url: `/recordings/${call.legId}` })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-type'], 'audio/mpeg')
  const sizes = await Promise.all(call.paths.map(async (p) => (await ffprobePackets(p)).length))
  t.ok(sizes.every((n) => n > 0))
  const rangesOf = (i: number): (string | undefined)[] => audioRequests(rig.sim).filter((r) => r.url.includes(`dlg-mp3-head-rec-${i}/`)).map((r) => r.range)
  const { size: size0 } = await stat(call.paths[0] as string)
  t.same(rangesOf(0), ['bytes=0-4095', `bytes=${size0 - 256}-${size0 - 1}`], 'Info frame trusted: the head and the last 256 bytes')
  const counted = rangesOf(1)
  const { size: size1 } = await stat(call.paths[1] as string)
  t.same(counted, ['bytes=0-4095', `bytes=${size1 - 256}-${size1 - 1}`, `bytes=0-${size1 - 1}`], 'no Info frame: head, tail, and one pass over the frames')
})

t.test('Range, If-Range and 416 on an MP3 leg', async (t) => {
  const rig = await startRig(t)
  const call = await mp3HoldCall(rig, 'dlg-mp3-range')
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`
  const full = await rig.app.inject({ method: 'GET', url })
  const size = full.rawPayload.length
  const etag = String(full.headers.etag)

  const ranges: [number, number][] = [[0, 0], [0, 215], [100, 400], [216, 5000], [size - 300, size - 1], [Math.floor(size / 3), Math.floor((2 * size) / 3)]]
  for (const [start, end] of ranges) {
    const res = await rig.app.inject({ method: 'GET', url, headers: { range: `bytes=${start}-${end}` } })
    t.equal(res.statusCode, 206)
    t.equal(res.headers['content-range'], `bytes ${start}-${end}/${size}`)
    t.ok(res.rawPayload.equals(full.rawPayload.subarray(start, end + 1)), `bytes ${start}-${end}: the same slice as the whole answer`)
  }
  const matching = await rig.app.inject({ method: 'GET', url, headers: { range: 'bytes=10-19', 'if-range': etag } })
  t.equal(matching.statusCode, 206, 'If-Range with the current ETag: the range')
  const stale = await rig.app.inject({ method: 'GET', url, headers: { range: 'bytes=10-19', 'if-range': '"stale"' } })
  t.equal(stale.statusCode, 200, 'If-Range with another ETag: the whole file')
  t.ok(stale.rawPayload.equals(full.rawPayload))
  const beyond = await rig.app.inject({ method: 'GET', url, headers: { range: `bytes=${size}-` } })
  t.equal(beyond.statusCode, 416)
  t.equal(beyond.headers['content-range'], `bytes */${size}`)
})

t.test('parts that cannot make one stream: 502 naming both formats, before any body byte', async (t) => {
  const rig = await startRig(t)
  const mp3 = await makeMp3(rig.dir, 'mixed-mp3', { seconds: 1, lame: ['-b', '24'] })
  const wav = await makeTone(join(rig.dir, 'mixed.wav'), { seconds: 1 })
  const mp3At16k = await makeMp3(rig.dir, 'mixed-16k', { seconds: 1, rate: 16000, lame: ['-b', '32'] })
  const cases = [
    { name: 'MP3 then WAV', call: holdCall('dlg-mixed-a', [mp3.path, wav], [1, 1]), says: 'MP3 (MPEG-2.5 Layer III, 8000 Hz, mono) vs WAV (PCM 16-bit 8000 Hz mono)' },
    { name: 'WAV then MP3', call: holdCall('dlg-mixed-b', [wav, mp3.path], [1, 1]), says: 'WAV (PCM 16-bit 8000 Hz mono) vs MP3 (MPEG-2.5 Layer III, 8000 Hz, mono)' },
    { name: '8 and 16 kHz MP3', call: holdCall('dlg-mixed-c', [mp3.path, mp3At16k.path], [1, 1]), says: 'MP3 (MPEG-2.5 Layer III, 8000 Hz, mono) vs MP3 (MPEG-2 Layer III, 16000 Hz, mono)' }
  ]
  for (const c of cases) {
    rig.sim.legs.push(...c.call.legs)
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await rig.app.inject({ method, url: `/recordings/${c.call.legId}` })
      t.equal(res.statusCode, 502, `${c.name}: ${method} 502`)
      if (method === 'GET') {
        t.same(res.json(), {
          statusCode: 502,
          code: 'GW_ERR_FORMAT_MISMATCH',
          error: 'Bad Gateway',
          message: `Segments of this leg have different audio formats and cannot be concatenated: ${c.says}`
        })
      }
    }
  }
})

t.test('a part that starts like an MP3 but is not one: 502 GW_ERR_BAD_MP3 naming the part', async (t) => {
  const rig = await startRig(t)
  const broken = join(rig.dir, 'broken.mp3')
  // An ID3v2 header followed by nothing that looks like a frame.
  await writeFile(broken, Buffer.concat([Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0]), Buffer.alloc(3000, 0x20)]))
  const call = holdCall('dlg-broken', [broken], [1])
  rig.sim.legs.push(...call.legs)
  const res = await rig.app.inject({ method: 'GET', url: `/recordings/${call.legId}` })
  t.equal(res.statusCode, 502)
  t.match(res.json(), { code: 'GW_ERR_BAD_MP3', message: /^Upstream eleveo returned an unreadable MP3: segment dlg-broken-rec-0: no MPEG audio frame after the ID3v2 tags \(offset 10\)/ })
})

t.test('a client that disconnects mid-stream aborts the upstream request', async (t) => {
  const rig = await startRig(t)
  // 24 MB of frames: one lame file without an Info frame, repeated (frames of one encoder run can follow
  // each other), far more than socket buffers hold, so Eleveo is still sending when the client leaves.
  const one = await makeMp3(rig.dir, 'long', { seconds: 30, rate: 44100, channels: 2, lame: ['-t', '-b', '320'] })
  const big = join(rig.dir, 'big.mp3')
  await writeFile(big, Buffer.concat(Array(20).fill(one.bytes) as Buffer[]))
  rig.sim.legs.push({ id: 'big-rec', dialogId: 'dlg-big', agentExtension: '1001', ani: '1', start: iso(T0), end: null, wavPath: big })
  const address = await rig.app.listen({ host: '127.0.0.1', port: 0 })

  const res = await request(`${address}/recordings/dlg-big:1001:1:${T0}`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'audio/mpeg')
  let received = 0
  for await (const chunk of res.body) {
    received += (chunk as Buffer).length
    if (received > 1024 * 1024) break
  }
  t.ok(received > 1024 * 1024, 'audio was flowing')
  const requests = audioRequests(rig.sim)
  t.equal(requests.length, 4, 'head, tail, the counting pass, the audio')
  t.equal(requests[2]?.aborted, false, 'the counting pass read the file to its end')
  const upstream = requests[3]
  await eventually(() => upstream?.aborted === true)
  t.equal(upstream?.aborted, true, 'Eleveo saw the audio request closed before it finished sending')
})
