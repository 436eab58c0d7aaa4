import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import t from 'tap'
import { EleveoProvider } from '../src/providers/eleveo/provider.js'
import { makeTone, tempDir, type Teardownable } from './helpers/sox.js'
import { iso, SIM_PASSWORD, SIM_USER, T0 } from './recordings-setup.js'
import { startEleveoSimulator, type SimEleveoLeg } from '../simulators/eleveo.js'
import { eventually } from './helpers/eventually.js'

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** A bare HTTP server whose answers a test writes by hand, for answers the simulator would never give. */
async function rawServer(
  t: Teardownable,
  handler: (req: IncomingMessage, res: ServerResponse) => void
): Promise<{ url: string; seen: { url: string; authorization?: string; range?: string }[] }> {
  const seen: { url: string; authorization?: string; range?: string }[] = []
  const server = createServer((req, res) => {
    const entry: (typeof seen)[0] = { url: req.url ?? '' }
    if (req.headers.authorization) entry.authorization = req.headers.authorization
    if (req.headers.range) entry.range = req.headers.range
    seen.push(entry)
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return { url: `http://127.0.0.1:${address.port}`, seen }
}

/** How many leading bytes these tests ask for; the resolver's own probe sizes are tested with the routes. */
const HEAD_PROBE_BYTES = 64 * 1024

function provider(t: Teardownable, baseUrl: string, timeoutMs = 2000): EleveoProvider {
  const p = new EleveoProvider({ baseUrl, username: SIM_USER, password: SIM_PASSWORD, timeoutMs })
  t.teardown(() => p.close())
  return p
}

function leg(id: string, agentExtension: string, offsetS: number, endReason: string | null): SimEleveoLeg {
  return { id, dialogId: 'call-1', agentExtension, ani: '555', start: iso(T0 + offsetS * 1000), end: iso(T0 + offsetS * 1000 + 5000), endReason }
}

/** Counts answers the client cut off before the server finished writing them. */
function cutOffCounter(): { watch(res: ServerResponse): void; waitFor(n: number): Promise<number> } {
  let count = 0
  return {
    watch(res) {
      res.on('close', () => {
        if (!res.writableFinished) count++
      })
    },
    async waitFor(n) {
      await eventually(() => count >= n)
      return count
    }
  }
}

/** Writes `bytes` in 10 kB pieces with backpressure, so a slice must be cut across chunk boundaries. */
function writeInPieces(res: ServerResponse, bytes: Buffer): void {
  let at = 0
  const write = (): void => {
    while (at < bytes.length) {
      const ok = res.write(bytes.subarray(at, at + 10_000))
      at += 10_000
      if (!ok) return void res.once('drain', write)
    }
    res.end()
  }
  write()
}

t.test('findLegs: unordered legs sorted, HOLD parts merged per agent, nothing else merged', async (t) => {
  const sim = await startEleveoSimulator({
    username: SIM_USER,
    password: SIM_PASSWORD,
    legs: [
      leg('a1', '1001', 0, 'HOLD'),
      leg('b1', '2002', 5, 'HOLD'),
      leg('a2', '1001', 10, 'HOLD'),
      leg('b2', '2002', 15, 'TRANSFER'),
      leg('a3', '1001', 20, 'TRANSFER'),
      // A direct transfer back to agent 1001: a new leg, never glued onto the previous one.
      leg('a4', '1001', 30, 'HANGUP')
    ]
  })
  t.teardown(() => sim.close())
  const p = provider(t, sim.url)
  const legs = await p.findLegs('call-1')
  t.same(
    legs.map((l) => [l.agentExtension, l.start - T0, l.segments.map((s) => s.id)]),
    [
      ['1001', 0, ['a1', 'a2', 'a3']],
      ['2002', 5000, ['b1', 'b2']],
      ['1001', 30_000, ['a4']]
    ]
  )
  t.equal(legs[0]?.end, T0 + 25_000, 'a merged leg ends when its last part ends')
  t.same(await p.findLegs('no-such-call'), [], 'a call Eleveo does not know (404) has no legs')
  t.ok(sim.requests.every((r) => r.method === 'GET'))
  t.same(p.matchPolicy, { requireSameIdentity: false, toleranceMs: null })
})

t.test('findLegs validates the listing strictly', async (t) => {
  let body = ''
  const server = await rawServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(body)
  })
  const p = provider(t, server.url)
  const good = { id: 'x', dialogId: 'call-1', agentExtension: '1001', ani: '555', start: '2026-03-02T10:00:00Z', end: null }
  const cases: [unknown, RegExp][] = [
    [[], /expected an object with a "legs" array/],
    [{ legs: {} }, /"legs" array/],
    [{ legs: [42] }, /legs\[0\] is not an object/],
    [{ legs: [{ ...good, id: '' }] }, /legs\[0\]\.id is empty/],
    [{ legs: [{ ...good, dialogId: 'other' }] }, /belongs to dialog "other", not the requested "call-1"/],
    [{ legs: [{ ...good, start: 'yesterday' }] }, /legs\[0\]\.start is not an ISO 8601 timestamp/],
    [{ legs: [{ ...good, start: '2026-03-02T10:00:00' }] }, /time zone/],
    [{ legs: [{ ...good, end: '2026-03-02T09:00:00Z' }] }, /ends before it starts/],
    [{ legs: [{ ...good, agentExtension: null }] }, /agentExtension is not a string/],
    [{ legs: [{ ...good, endReason: 7 }] }, /endReason is not a string/],
    [{ legs: [good, good] }, /appears twice/]
  ]
  for (const [doc, says] of cases) {
    body = JSON.stringify(doc)
    await t.rejects(p.findLegs('call-1'), { statusCode: 502, code: 'GW_ERR_UPSTREAM', message: says }, body)
  }
  body = '{"legs": ['
  await t.rejects(p.findLegs('call-1'), { statusCode: 502, message: /^Upstream eleveo: recordings of dialog call-1: the answer is not JSON/ })

  body = JSON.stringify({ legs: [{ ...good, agentExtension: 1001, ani: null, endReason: undefined }] })
  const legs = await p.findLegs('call-1')
  t.same(legs.map((l) => [l.agentExtension, l.ani]), [['1001', '']], 'numeric extension and anonymous caller are normalised')

  body = JSON.stringify({ legs: [{ ...good, dialogId: 'CALL-1' }] })
  const upper = await p.findLegs('call-1')
  t.same(upper.map((l) => l.dialogId), ['call-1'], 'a dialog id printed in another case is the same dialog, named as asked')
})

t.test('requests carry basic auth, go under the base path, and escape ids', async (t) => {
  const server = await rawServer(t, (_req, res) => {
    res.writeHead(404).end()
  })
  const p = provider(t, `${server.url}/eleveo/`)
  await p.findLegs('a b&c')
  await t.rejects(p.statSegment({ id: 'rec/1?x' }, HEAD_PROBE_BYTES), { statusCode: 502, message: /answered HTTP 404/ })
  t.same(server.seen.map((s) => s.url), ['/eleveo/api/recordings?dialogId=a%20b%26c', '/eleveo/api/recordings/rec%2F1%3Fx/audio'])
  const expected = `Basic ${Buffer.from(`${SIM_USER}:${SIM_PASSWORD}`).toString('base64')}`
  t.ok(server.seen.every((s) => s.authorization === expected))
  t.equal(server.seen[1]?.range, `bytes=0-${HEAD_PROBE_BYTES - 1}`)
})

t.test('statSegment and openSegment against an Eleveo that answers Range properly', async (t) => {
  const dir = await tempDir(t)
  const wav = await makeTone(join(dir, 'a.wav'), { seconds: 6 })
  const bytes = await readFile(wav)
  const sim = await startEleveoSimulator({ username: SIM_USER, password: SIM_PASSWORD, legs: [{ ...leg('a1', '1001', 0, null), wavPath: wav }] })
  t.teardown(() => sim.close())
  const p = provider(t, sim.url)

  const info = await p.statSegment({ id: 'a1' }, HEAD_PROBE_BYTES)
  t.equal(info.size, bytes.length)
  t.ok(info.head.equals(bytes.subarray(0, HEAD_PROBE_BYTES)), 'head = the first 64 KiB')
  t.ok((await collect(await p.openSegment({ id: 'a1' }, { start: 1000, end: 70_000 }))).equals(bytes.subarray(1000, 70_001)))
  t.same(await p.statSegment({ id: 'a1' }, 100), { size: bytes.length, head: bytes.subarray(0, 100) }, 'as many bytes as asked for')
  t.same(sim.requests.map((r) => r.range), [`bytes=0-${HEAD_PROBE_BYTES - 1}`, 'bytes=1000-70000', 'bytes=0-99'])
})

t.test('an Eleveo that ignores Range (200 with the whole file) is sliced correctly', async (t) => {
  const dir = await tempDir(t)
  // 20 MB, more than socket buffers hold: a whole-file answer is still being sent when we cut it off.
  const bytes = await readFile(await makeTone(join(dir, 'a.wav'), { seconds: 120, rate: 44100, channels: 2 }))
  const cutOff = cutOffCounter()
  const server = await rawServer(t, (_req, res) => {
    cutOff.watch(res)
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(bytes.length) })
    writeInPieces(res, bytes)
  })
  const p = provider(t, server.url)
  const info = await p.statSegment({ id: 'a' }, HEAD_PROBE_BYTES)
  t.equal(info.size, bytes.length, 'size from Content-Length')
  t.ok(info.head.equals(bytes.subarray(0, HEAD_PROBE_BYTES)))
  const slice = await collect(await p.openSegment({ id: 'a' }, { start: 12_345, end: 23_456 }))
  t.ok(slice.equals(bytes.subarray(12_345, 23_457)), 'exactly the bytes asked for')
  const unread = await p.openSegment({ id: 'a' }, { start: 0, end: 99 })
  unread.destroy()
  t.equal(await cutOff.waitFor(3), 3, 'the rest of the file is not downloaded: every whole-file answer was cut off, even one never read')
})

t.test('a header probe answered with a 206 of the whole file reads only the probe', async (t) => {
  const dir = await tempDir(t)
  const bytes = await readFile(await makeTone(join(dir, 'a.wav'), { seconds: 120, rate: 44100, channels: 2 }))
  const cutOff = cutOffCounter()
  const server = await rawServer(t, (_req, res) => {
    cutOff.watch(res)
    res.writeHead(206, {
      'content-type': 'audio/wav',
      'content-range': `bytes 0-${bytes.length - 1}/${bytes.length}`,
      'content-length': String(bytes.length)
    })
    writeInPieces(res, bytes)
  })
  const p = provider(t, server.url)
  const info = await p.statSegment({ id: 'a' }, HEAD_PROBE_BYTES)
  t.equal(info.size, bytes.length, 'size from Content-Range')
  t.equal(info.head.length, HEAD_PROBE_BYTES, 'no more than the probe is kept in memory')
  t.ok(info.head.equals(bytes.subarray(0, HEAD_PROBE_BYTES)))
  t.equal(await cutOff.waitFor(1), 1, 'the rest of the file is not downloaded')
})

t.test('a 206 that starts where asked but ends later (a rounded-up range) is cut to the bytes asked for', async (t) => {
  const dir = await tempDir(t)
  // 20 MB, more than socket buffers hold: an answer running to the end of the file is still being sent when we cut it off.
  const bytes = await readFile(await makeTone(join(dir, 'a.wav'), { seconds: 120, rate: 44100, channels: 2 }))
  const cutOff = cutOffCounter()
  const server = await rawServer(t, (req, res) => {
    cutOff.watch(res)
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
    const start = Number(m?.[1])
    // This server rounds every range up to the end of the file.
    const end = bytes.length - 1
    res.writeHead(206, { 'content-type': 'audio/wav', 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'content-length': String(end - start + 1) })
    writeInPieces(res, bytes.subarray(start, end + 1))
  })
  const p = provider(t, server.url)
  const slice = await collect(await p.openSegment({ id: 'a' }, { start: 12_345, end: 23_456 }))
  t.ok(slice.equals(bytes.subarray(12_345, 23_457)), 'exactly the bytes asked for')
  const unread = await p.openSegment({ id: 'a' }, { start: 100, end: 199 })
  unread.destroy()
  t.equal(await cutOff.waitFor(2), 2, 'the rest of the file is not downloaded, even for a stream never read')
  const last = await collect(await p.openSegment({ id: 'a' }, { start: bytes.length - 1000, end: bytes.length - 1 }))
  t.ok(last.equals(bytes.subarray(bytes.length - 1000)), 'a range the server did not need to round is passed through')
  t.same(server.seen.map((s) => s.range), ['bytes=12345-23456', 'bytes=100-199', `bytes=${bytes.length - 1000}-${bytes.length - 1}`])
})

t.test('audio answers that break the contract are 502s naming Eleveo', async (t) => {
  let answer: (res: ServerResponse) => void = (res) => res.end()
  const server = await rawServer(t, (_req, res) => answer(res))
  const p = provider(t, server.url)

  answer = (res) => res.writeHead(206, { 'content-range': 'bytes 100-199/5000', 'content-length': '100' }).end(Buffer.alloc(100))
  await t.rejects(p.statSegment({ id: 'a' }, HEAD_PROBE_BYTES), { statusCode: 502, message: /unusable Content-Range "bytes 100-199\/5000"/ })
  await t.rejects(p.openSegment({ id: 'a' }, { start: 0, end: 99 }), { statusCode: 502, message: /asked for bytes 0-99, got Content-Range "bytes 100-199\/5000"/ })
  await t.rejects(p.openSegment({ id: 'a' }, { start: 150, end: 199 }), { statusCode: 502, message: /asked for bytes 150-199, got Content-Range "bytes 100-199\/5000"/ }, 'a range rounded down at its start: the bytes would be shifted')
  await t.rejects(p.openSegment({ id: 'a' }, { start: 100, end: 299 }), { statusCode: 502, message: /asked for bytes 100-299, got Content-Range "bytes 100-199\/5000"/ }, 'fewer bytes than asked for')

  answer = (res) => {
    res.writeHead(200, { 'content-type': 'audio/wav' }) // chunked: no size
    res.end(Buffer.alloc(10))
  }
  await t.rejects(p.statSegment({ id: 'a' }, HEAD_PROBE_BYTES), { statusCode: 502, message: /no Content-Length/ })

  answer = (res) => res.writeHead(416, { 'content-range': 'bytes */0' }).end()
  t.same(await p.statSegment({ id: 'a' }, HEAD_PROBE_BYTES), { size: 0, head: Buffer.alloc(0) }, 'an empty file is reported as such (the WAV layer rejects it)')

  answer = (res) => res.writeHead(403).end('no')
  await t.rejects(p.openSegment({ id: 'a' }, { start: 0, end: 9 }), { statusCode: 502, message: /answered HTTP 403 \(check ELEVEO_USERNAME/ })
})

t.test('timeouts are 504s; ping proves Eleveo answers', async (t) => {
  const sim = await startEleveoSimulator({ username: SIM_USER, password: SIM_PASSWORD, slowMs: 5000 })
  t.teardown(() => sim.close())
  const p = provider(t, sim.url, 200)
  await p.ping()
  sim.setFault('slow', { target: 'metadata' })
  await t.rejects(p.findLegs('x'), { statusCode: 504, code: 'GW_ERR_UPSTREAM_TIMEOUT', message: /^Upstream eleveo timed out: recordings of dialog x: no (complete )?answer within 200 ms/ })
  await t.rejects(p.ping(), { statusCode: 504, message: /timed out: reachability check/ })
  sim.setFault('error500')
  await t.rejects(p.ping(), { statusCode: 502, message: /reachability check: answered HTTP 500/ })
  sim.setFault(null)
  await p.ping()

  const wrong = new EleveoProvider({ baseUrl: sim.url, username: SIM_USER, password: 'nope', timeoutMs: 1000 })
  t.teardown(() => wrong.close())
  await t.rejects(wrong.ping(), { statusCode: 502, message: /401/ })
})

t.test("the caller's abort signal stops an audio stream and is reported as the abort, not as an Eleveo failure", async (t) => {
  const dir = await tempDir(t)
  const wav = await makeTone(join(dir, 'big.wav'), { seconds: 120, rate: 44100, channels: 2 })
  const sim = await startEleveoSimulator({ username: SIM_USER, password: SIM_PASSWORD, legs: [{ ...leg('big', '1001', 0, null), wavPath: wav }] })
  t.teardown(() => sim.close())
  const p = provider(t, sim.url)
  const ac = new AbortController()
  const body = await p.openSegment({ id: 'big' }, { start: 0, end: 20_000_000 }, ac.signal)
  const reason = new Error('listener left')
  const done = collect(body)
  ac.abort(reason)
  await t.rejects(done, 'the stream ends with an error, never cleanly')
  await eventually(() => sim.requests[0]?.aborted === true)
  t.equal(sim.requests[0]?.aborted, true, 'Eleveo saw the request closed')

  await t.rejects(p.findLegs('call-1', AbortSignal.abort(reason)), reason, 'an aborted look-up rejects with the reason')
})
