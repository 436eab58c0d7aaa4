/*
 * The RIFF header probe over HTTP with the Eleveo simulator: a small first read, longer reads for files
 * whose chunks before `data` are large (embedded metadata), a cap beyond which the file is a 502.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { soxConcat, soxSamples } from './helpers/sox.js'
import { chunk, findChunk, insertChunk } from './helpers/wav-craft.js'
import { audioRequests, clientRequests, makeHoldCall, startRig } from './recordings-setup.js'

/** A LIST/INFO chunk whose comment is `bytes` long: what a recorder embedding call metadata writes. */
function bigListChunk(bytes: number): Buffer {
  const comment = Buffer.alloc(bytes, 'call metadata ', 'latin1')
  comment[bytes - 1] = 0
  return chunk('LIST', Buffer.concat([Buffer.from('INFO', 'latin1'), chunk('ICMT', comment)]))
}

/** Rewrites the file at `path` with `list` inserted before its data chunk; returns the new bytes. */
async function withListBeforeData(path: string, list: Buffer): Promise<Buffer> {
  const bytes = insertChunk(await readFile(path), list, 'beforeData')
  await writeFile(path, bytes)
  return bytes
}

const samplesOf = async (path: string): Promise<Buffer> => {
  const s = await soxSamples(path)
  return Buffer.from(s.buffer, s.byteOffset, s.byteLength)
}

t.test('a part whose data starts beyond 200 KiB of metadata is served: small first probe, one longer one', async (t) => {
  const rig = await startRig(t, { env: { LEG_CACHE_TTL_MS: '60000' } })
  const call = await makeHoldCall(rig.dir, 'dlg-biglist', {}, [1.5, 1])
  // The first part carries a 200 KiB LIST before data; the second is a plain sox file.
  const big = await withListBeforeData(call.paths[0]!, bigListChunk(200 * 1024))
  const dataHeaderEnd = findChunk(big, 'data').offset + 8
  t.ok(dataHeaderEnd > 200 * 1024, 'the data chunk starts beyond 200 KiB')
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`

  const head = await rig.app.inject({ method: 'HEAD', url })
  t.equal(head.statusCode, 200)
  const first = audioRequests(rig.sim).filter((r) => r.url.includes('dlg-biglist-rec-0'))
  t.same(first.map((r) => r.range), ['bytes=0-4095', `bytes=0-${dataHeaderEnd - 1}`], 'a 4 KiB probe, then exactly up to the data chunk header')
  const second = audioRequests(rig.sim).filter((r) => r.url.includes('dlg-biglist-rec-1'))
  t.same(second.map((r) => r.range), ['bytes=0-4095'], 'a plain part: one small probe')

  const get = await rig.app.inject({ method: 'GET', url })
  t.equal(get.statusCode, 200)
  t.equal(get.headers['content-length'], head.headers['content-length'], 'HEAD and GET agree on the length')
  t.equal(Number(get.headers['content-length']), get.rawPayload.length)
  t.equal(get.rawPayload.indexOf('call metadata', 0, 'latin1'), -1, 'the metadata is not copied into the merged file')
  const out = join(rig.dir, 'served.wav')
  await writeFile(out, get.rawPayload)
  const ref = await soxConcat(call.paths, join(rig.dir, 'ref.wav'))
  const [ours, theirs] = await Promise.all([samplesOf(out), samplesOf(ref)])
  t.ok(theirs.length > 0)
  t.ok(ours.equals(theirs), "same samples as sox's concatenation of the stored files")

  const before = rig.sim.requests.length
  const warm = await rig.app.inject({ method: 'HEAD', url })
  t.equal(warm.statusCode, 200)
  t.same(clientRequests({ requests: rig.sim.requests.slice(before) }), [], 'with the layouts cached a HEAD asks Eleveo nothing')
})

t.test('a header larger than the cap is a 502 naming the cap, and no more than the cap is read', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-hugelist', {}, [1])
  await withListBeforeData(call.paths[0]!, bigListChunk(1024 * 1024 + 100))
  rig.sim.legs.push(...call.legs)

  for (const method of ['HEAD', 'GET'] as const) {
    const res = await rig.app.inject({ method, url: `/recordings/${call.legId}` })
    t.equal(res.statusCode, 502, method)
    if (method === 'GET') {
      t.match(res.json(), {
        statusCode: 502,
        code: 'GW_ERR_BAD_WAV',
        message: /^Upstream eleveo returned an unreadable WAV: segment dlg-hugelist-rec-0: the WAV header .* is larger than the 1 MiB \(1048576 bytes\)/
      })
    }
  }
  const ranges = audioRequests(rig.sim).map((r) => r.range)
  t.same(ranges, ['bytes=0-4095', 'bytes=0-4095'], 'the LIST size tells at once that the header cannot fit: the rest is never fetched')

  // Hundreds of small chunks: each probe only shows how far the next one goes, so probes grow to the cap.
  const many = await makeHoldCall(rig.dir, 'dlg-manychunks', {}, [1])
  let bytes: Buffer = await readFile(many.paths[0]!)
  for (let i = 0; i < 400; i++) bytes = insertChunk(bytes, chunk('JUNK', Buffer.alloc(3000)), 'beforeData')
  await writeFile(many.paths[0]!, bytes)
  rig.sim.legs.push(...many.legs)
  const before = audioRequests(rig.sim).length
  const res = await rig.app.inject({ method: 'GET', url: `/recordings/${many.legId}` })
  t.equal(res.statusCode, 502)
  t.match(res.json(), { code: 'GW_ERR_BAD_WAV', message: /larger than the 1 MiB \(1048576 bytes\)/ })
  t.same(
    audioRequests(rig.sim).slice(before).map((r) => r.range),
    ['bytes=0-4095', 'bytes=0-32767', 'bytes=0-262143', 'bytes=0-1048575'],
    'probes grow ×8 and stop at the cap'
  )
})
