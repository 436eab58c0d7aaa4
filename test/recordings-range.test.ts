import t from 'tap'
import { audioRequests, makeHoldCall, startRig } from './recordings-setup.js'

t.test('Range requests return exact slices of the merged file and fetch only what they need', async (t) => {
  const rig = await startRig(t)
  // 16-bit mono 8 kHz: 16000 bytes a second; segments of 40000, 20800 and 28000 data bytes.
  const call = await makeHoldCall(rig.dir, 'dlg-range', {}, [2.5, 1.3, 1.75])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`

  const full = (await rig.app.inject({ method: 'GET', url })).rawPayload
  const size = full.length
  const dataAt = full.indexOf('data', 12, 'latin1') + 8
  const seg1End = dataAt + 40_000 // first byte of segment 2
  const seg2End = seg1End + 20_800 // first byte of segment 3

  const cases: { name: string; header: string; start: number; end: number }[] = [
    { name: 'inside the header', header: 'bytes=0-9', start: 0, end: 9 },
    { name: 'header into segment 1', header: `bytes=${dataAt - 4}-${dataAt + 99}`, start: dataAt - 4, end: dataAt + 99 },
    { name: 'inside segment 2', header: `bytes=${seg1End + 10}-${seg1End + 1009}`, start: seg1End + 10, end: seg1End + 1009 },
    { name: 'across segments 1, 2 and 3', header: `bytes=${seg1End - 7}-${seg2End + 6}`, start: seg1End - 7, end: seg2End + 6 },
    { name: 'open-ended', header: `bytes=${seg2End - 3}-`, start: seg2End - 3, end: size - 1 },
    { name: 'suffix', header: 'bytes=-777', start: size - 777, end: size - 1 },
    { name: 'suffix longer than the file', header: `bytes=-${size + 50}`, start: 0, end: size - 1 },
    { name: 'end beyond the file', header: `bytes=${size - 5}-${size + 1000}`, start: size - 5, end: size - 1 },
    { name: 'one byte', header: `bytes=${seg2End}-${seg2End}`, start: seg2End, end: seg2End },
    { name: 'two ranges, coalesced', header: `bytes=10-19, ${seg1End}-${seg1End + 9}`, start: 10, end: seg1End + 9 }
  ]
  for (const c of cases) {
    const before = rig.sim.requests.length
    const res = await rig.app.inject({ method: 'GET', url, headers: { range: c.header } })
    t.equal(res.statusCode, 206, `${c.name}: 206`)
    t.equal(res.headers['content-range'], `bytes ${c.start}-${c.end}/${size}`, `${c.name}: Content-Range`)
    t.equal(res.headers['content-length'], String(c.end - c.start + 1), `${c.name}: Content-Length`)
    t.ok(res.rawPayload.equals(full.subarray(c.start, c.end + 1)), `${c.name}: same bytes as that slice of the full answer`)
    const fetched = audioRequests({ requests: rig.sim.requests.slice(before) })
    t.ok(fetched.every((r) => r.range !== undefined), `${c.name}: only ranged audio requests`)
    const bytesAsked = fetched.reduce((sum, r) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '')
      return sum + (m ? Number(m[2]) - Number(m[1]) + 1 : Infinity)
    }, 0)
    t.ok(bytesAsked <= c.end - c.start + 1, `${c.name}: asked Eleveo for ${bytesAsked} bytes, at most the ${c.end - c.start + 1} needed`)
  }

  const inSeg2 = rig.sim.requests.length
  await rig.app.inject({ method: 'GET', url, headers: { range: `bytes=${seg1End + 10}-${seg1End + 1009}` } })
  const only = audioRequests({ requests: rig.sim.requests.slice(inSeg2) })
  t.equal(only.length, 1, 'a range inside segment 2 is one upstream request')
  t.match(only[0]?.url, `/api/recordings/${call.legs[1]?.id}/audio`, '… to segment 2')
})

t.test('unsatisfiable, malformed and stale ranges', async (t) => {
  const rig = await startRig(t)
  const call = await makeHoldCall(rig.dir, 'dlg-range-bad', {}, [1, 1])
  rig.sim.legs.push(...call.legs)
  const url = `/recordings/${call.legId}`
  const full = await rig.app.inject({ method: 'GET', url })
  const size = full.rawPayload.length

  for (const header of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
    const res = await rig.app.inject({ method: 'GET', url, headers: { range: header } })
    t.equal(res.statusCode, 416, `${header}: 416`)
    t.equal(res.headers['content-range'], `bytes */${size}`, `${header}: Content-Range names the size`)
    const body = res.json<{ statusCode: number; error: string; message: string }>()
    t.equal(body.statusCode, 416)
    t.equal(body.error, 'Range Not Satisfiable')
    t.match(body.message, String(size))
  }

  for (const header of ['bytes=5-2', 'bytes=abc', 'items=0-10', 'bytes=', 'bytes=1-2-3', 'bytes 0-10']) {
    const res = await rig.app.inject({ method: 'GET', url, headers: { range: header } })
    t.equal(res.statusCode, 200, `malformed ${JSON.stringify(header)} is ignored: 200`)
    t.ok(res.rawPayload.equals(full.rawPayload), `malformed ${JSON.stringify(header)}: the whole file`)
    t.notOk(res.headers['content-range'])
  }

  const matching = await rig.app.inject({ method: 'GET', url, headers: { range: 'bytes=0-99', 'if-range': String(full.headers.etag) } })
  t.equal(matching.statusCode, 206, 'If-Range with the current ETag: the range applies')
  const stale = await rig.app.inject({ method: 'GET', url, headers: { range: 'bytes=0-99', 'if-range': '"something-older"' } })
  t.equal(stale.statusCode, 200, 'If-Range with another ETag: the whole file')
  t.equal(stale.rawPayload.length, size)
})
