import t from 'tap'
import { request } from 'undici'
import { BodyTooLargeError, readBounded } from '../../src/http/read-bounded.js'
import { EleveoProvider } from '../../src/providers/eleveo/provider.js'
import { endlessBody, startHostileServer } from '../helpers/hostile-server.js'

t.test('a chunked body without Content-Length is cut at the cap while it is read', async (t) => {
  const server = await startHostileServer(t, endlessBody())
  const res = await request(server.url)
  t.equal(res.headers['content-length'], undefined, 'no declared length to check')
  const err = await readBounded(res.body, 1024 * 1024, res.headers['content-length']).catch((e: unknown) => e)
  t.type(err, BodyTooLargeError)
  t.match(err, { limit: 1024 * 1024, declared: null, message: /larger than 1048576 bytes/ })
  await new Promise((r) => setTimeout(r, 100))
  t.equal(server.cutOff, 1, 'the connection was dropped instead of read to its end')
  t.ok(server.sent < 16 * 1024 * 1024, `the server got to send ${server.sent} bytes only`)
})

t.test('a declared length over the cap is refused before any byte is read', async (t) => {
  const server = await startHostileServer(t, (_req, res, write) => {
    res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) })
    write(Buffer.alloc(1024))
  })
  const res = await request(server.url)
  await t.rejects(readBounded(res.body, 1024 * 1024, res.headers['content-length']), {
    name: 'BodyTooLargeError',
    declared: 50 * 1024 * 1024,
    message: /declares 52428800 bytes, more than the 1048576 allowed/
  })
})

t.test('a body within the cap is returned whole', async (t) => {
  const body = Buffer.from(JSON.stringify({ items: Array.from({ length: 2000 }, (_, i) => ({ i })) }))
  const server = await startHostileServer(t, (_req, res) => {
    res.writeHead(200)
    // Several chunks, no Content-Length.
    for (let i = 0; i < body.length; i += 1000) res.write(body.subarray(i, i + 1000))
    res.end()
  })
  const res = await request(server.url)
  t.same(await readBounded(res.body, body.length, res.headers['content-length']), body, 'exactly at the cap is allowed')
})

t.test('an Eleveo listing that never ends is a 502 naming the cap, and the connection is dropped', async (t) => {
  const server = await startHostileServer(t, endlessBody())
  const provider = new EleveoProvider({ baseUrl: server.url, username: null, password: null, timeoutMs: 20_000 })
  t.teardown(() => provider.close())
  await t.rejects(provider.findLegs('dlg-endless'), { statusCode: 502, message: /recordings of dialog dlg-endless.*larger than 4194304 bytes/ })
  await new Promise((r) => setTimeout(r, 100))
  t.equal(server.cutOff, 1)
  t.ok(server.sent < 64 * 1024 * 1024, `${server.sent} bytes sent before the gateway gave up`)
})
