/*
 * GET/HEAD /recordings/:legId with RECORDING_VENDOR=efswitch, end to end: environment → loadConfig →
 * buildApp, a real PostgreSQL holding v_xml_cdr, sox-made files in a temporary recordings root.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { soxSamples } from './helpers/sox.js'
import { startPostgres } from './helpers/postgres.js'
import { createCdrTable, efswitchGateway, insertCall, jsonLog, recordingFileName, recordingsRoot, writeRecording } from './helpers/efswitch-fixtures.js'
import { chunk, findChunk, insertChunk } from './helpers/wav-craft.js'

const pg = await startPostgres()
t.teardown(() => pg.close())
const plainUrl = await pg.createDatabase('switch')
const cdr = await createCdrTable(plainUrl)
t.teardown(() => cdr.end({ timeout: 5 }))
// The server trusts every local connection, so any password works; it is here to prove it is never logged.
const SECRET = 'pg-Secret-4711'
const databaseUrl = plainUrl.replace('postgres@', `postgres:${SECRET}@`)
const root = await recordingsRoot(t)
const outside = await recordingsRoot(t)

const log = jsonLog()
const logLines = log.lines
const rawLog = log.raw

function gateway(env: Record<string, string> = {}): Promise<FastifyInstance> {
  return efswitchGateway(t, { databaseUrl, root }, { PORT: '0', HOST: '127.0.0.1', ...env }, log.stream)
}

function refusalsMentioning(value: string): Record<string, unknown>[] {
  return logLines.filter((l) => l.level === 40 && JSON.stringify(l.refused ?? {}).includes(JSON.stringify(value).slice(1, -1)))
}

const ani = '+41441234567'
const t0 = 1_764_000_000_000
const call = randomUUID()
const callDir = join(root, 'example.com', 'archive', call)
// A direct transfer 1001 → 1002 and back to 1001: three files, two of them the same agent's.
const first = await writeRecording(callDir, { dialogId: call, agentExtension: '1001', ani, start: t0, seconds: 1.5, freq: 300 })
const second = await writeRecording(callDir, { dialogId: call, agentExtension: '1002', ani, start: t0 + 40_000, seconds: 1, freq: 500 })
const third = await writeRecording(callDir, { dialogId: call, agentExtension: '1001', ani, start: t0 + 90_000, seconds: 2, freq: 700 })
await insertCall(cdr, call, callDir)

const app = await gateway()

t.test('each leg of a transferred call is its own file, served byte for byte', async (t) => {
  const cases = [
    [`${call}:1001:${ani}:${t0 + 2_000}`, first, 'first 1001 leg'],
    [`${call}:1002:${ani}:${t0 + 41_000}`, second, 'the 1002 leg'],
    [`${call}:1001:${ani}:${t0 + 88_000}`, third, 'second 1001 leg: the closest start wins'],
    [`${call}%3A1001%3A${encodeURIComponent(ani)}%3A${t0 + 9_000_000}`, third, 'far away and URL-encoded: still the closest']
  ] as const
  for (const [legId, file, why] of cases) {
    const res = await app.inject({ method: 'GET', url: `/recordings/${legId}` })
    t.equal(res.statusCode, 200, why)
    t.equal(res.headers['content-type'], 'audio/wav')
    t.equal(res.headers['content-length'], String(file.bytes.length))
    t.equal(res.headers['accept-ranges'], 'bytes')
    t.ok(res.rawPayload.equals(file.bytes), `${why}: the body is the file`)
  }
  // sox agrees on the samples too (the body is not merely the same length).
  const res = await app.inject({ method: 'GET', url: `/recordings/${call}:1002:${ani}:${t0}` })
  const out = join(root, 'served.wav')
  await writeFile(out, res.rawPayload)
  t.same(await soxSamples(out), await soxSamples(second.path))
})

t.test('Range requests and HEAD', async (t) => {
  const url = `/recordings/${call}:1001:${ani}:${t0}`
  const size = first.bytes.length
  const slice = await app.inject({ method: 'GET', url, headers: { range: 'bytes=100-999' } })
  t.equal(slice.statusCode, 206)
  t.equal(slice.headers['content-range'], `bytes 100-999/${size}`)
  t.ok(slice.rawPayload.equals(first.bytes.subarray(100, 1000)))
  const tail = await app.inject({ method: 'GET', url, headers: { range: 'bytes=-77' } })
  t.equal(tail.statusCode, 206)
  t.ok(tail.rawPayload.equals(first.bytes.subarray(size - 77)))
  const open = await app.inject({ method: 'GET', url, headers: { range: `bytes=${size - 3}-` } })
  t.ok(open.rawPayload.equals(first.bytes.subarray(size - 3)))
  const beyond = await app.inject({ method: 'GET', url, headers: { range: `bytes=${size}-` } })
  t.equal(beyond.statusCode, 416)
  t.equal(beyond.headers['content-range'], `bytes */${size}`)

  const head = await app.inject({ method: 'HEAD', url })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-length'], String(size))
  t.equal(head.headers['content-type'], 'audio/wav')
  t.equal(head.rawPayload.length, 0)
})

/** A LIST/INFO chunk with a comment of `bytes` bytes, the way a recording script embeds call metadata. */
function bigListChunk(bytes: number): Buffer {
  const comment = Buffer.alloc(bytes, 'call metadata ', 'latin1')
  comment[bytes - 1] = 0
  return chunk('LIST', Buffer.concat([Buffer.from('INFO', 'latin1'), chunk('ICMT', comment)]))
}

t.test('a file whose data starts beyond 200 KiB of metadata is served with the same samples', async (t) => {
  const id = randomUUID()
  const dir = join(root, 'metadata', id)
  const file = await writeRecording(dir, { dialogId: id, agentExtension: '1001', ani, start: t0, seconds: 1.5, freq: 350 })
  const bytes = insertChunk(await readFile(file.path), bigListChunk(200 * 1024), 'beforeData')
  await writeFile(file.path, bytes)
  t.ok(findChunk(bytes, 'data').offset > 200 * 1024)
  await insertCall(cdr, id, dir)

  const url = `/recordings/${id}:1001:${ani}:${t0}`
  const res = await app.inject({ method: 'GET', url })
  t.equal(res.statusCode, 200)
  t.equal(Number(res.headers['content-length']), res.rawPayload.length)
  t.ok(res.rawPayload.length < bytes.length - 200 * 1024, 'served with a fresh header, without the metadata')
  const out = join(root, 'served-metadata.wav')
  await writeFile(out, res.rawPayload)
  const [ours, theirs] = await Promise.all([soxSamples(out), soxSamples(file.path)])
  t.ok(theirs.length > 0)
  t.same(ours, theirs, 'the samples sox reads from the stored file')
  const head = await app.inject({ method: 'HEAD', url, headers: { range: 'bytes=10-19' } })
  t.equal(head.statusCode, 206)
  t.equal(head.headers['content-range'], `bytes 10-19/${res.rawPayload.length}`)

  const huge = randomUUID()
  const hugeDir = join(root, 'metadata', huge)
  const hugeFile = await writeRecording(hugeDir, { dialogId: huge, agentExtension: '1001', ani, start: t0 })
  await writeFile(hugeFile.path, insertChunk(hugeFile.bytes, bigListChunk(1024 * 1024), 'beforeData'))
  await insertCall(cdr, huge, hugeDir)
  const refused = await app.inject({ method: 'GET', url: `/recordings/${huge}:1001:${ani}:${t0}` })
  t.equal(refused.statusCode, 502)
  t.match(refused.json(), {
    statusCode: 502,
    code: 'GW_ERR_BAD_WAV',
    message: /^Upstream efswitch returned an unreadable WAV: segment [^/]+\.wav: the WAV header .* is larger than the 1 MiB \(1048576 bytes\)/
  })
})

t.test('unknown calls and legs are 404, never 500', async (t) => {
  const cases = [
    [`${randomUUID()}:1001:${ani}:${t0}`, 'no such call'],
    [`not-a-uuid:1001:${ani}:${t0}`, 'a dialogId the database cannot parse'],
    [`${call}:1003:${ani}:${t0}`, 'no file for this agent'],
    [`${call}:1001:999:${t0}`, 'another ANI']
  ] as const
  for (const [legId, why] of cases) {
    const res = await app.inject({ method: 'GET', url: `/recordings/${legId}` })
    t.equal(res.statusCode, 404, why)
    t.match(res.json(), { statusCode: 404, error: 'Not Found', code: 'GW_ERR_LEG_NOT_FOUND' }, why)
  }
})

t.test('path traversal in the legId is a 400', async (t) => {
  const attempts = [
    `${call}:..:${ani}:${t0}`,
    `${call}:1001..:${ani}:${t0}`,
    `..%2F..%2F..%2Fetc%2Fpasswd:1001:${ani}:${t0}`,
    `${call}:10%2F01:${ani}:${t0}`,
    `${call}:10%5C01:${ani}:${t0}`,
    `${call}:1001%00:${ani}:${t0}`,
    `${call}:%2E%2E:${ani}:${t0}`,
    `${call}:%252e%252e%252f:${ani}:${t0}`,
    `${call}%3A..%3A${ani}%3A${t0}`,
    `${call}:1001:${ani}%2F..%2F..:${t0}`,
    `${call}:1001:${ani}:${t0}.wav`,
    `${call}:1001:${ani}:${t0}%2F..%2F..%2Fx`
  ]
  for (const legId of attempts) {
    const res = await app.inject({ method: 'GET', url: `/recordings/${legId}` })
    t.equal(res.statusCode, 400, legId)
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', code: 'GW_ERR_BAD_LEG_ID' }, legId)
  }
})

t.test('a record_path outside the root is refused, logged, and serves nothing', async (t) => {
  for (const recordPath of ['/etc', `${root}/../..`, join(root, '..', outside.split('/').pop() ?? '')]) {
    const id = randomUUID()
    // Were the refusal missing, this file outside the root would be what got served.
    await writeRecording(outside, { dialogId: id, agentExtension: '1001', ani, start: t0 })
    await insertCall(cdr, id, recordPath)
    const res = await app.inject({ method: 'GET', url: `/recordings/${id}:1001:${ani}:${t0}` })
    t.equal(res.statusCode, 404, recordPath)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.ok(refusalsMentioning(recordPath).length > 0, `${recordPath}: logged at warn with the offending value`)
  }
})

t.test('a symlinked file leading outside the root is refused and logged', async (t) => {
  const id = randomUUID()
  const dir = join(root, 'links', id)
  await mkdir(dir, { recursive: true })
  const target = await writeRecording(outside, { dialogId: id, agentExtension: '1001', ani, start: t0 })
  const link = join(dir, recordingFileName({ dialogId: id, agentExtension: '1001', ani, start: t0 }))
  await symlink(target.path, link)
  await insertCall(cdr, id, dir)
  const res = await app.inject({ method: 'GET', url: `/recordings/${id}:1001:${ani}:${t0}` })
  t.equal(res.statusCode, 404)
  t.notOk(res.rawPayload.includes(target.bytes.subarray(44, 200)), 'no byte of the target')
  t.ok(refusalsMentioning(link).length > 0, 'the link is logged')
  t.ok(refusalsMentioning(target.path).length > 0, 'with where it leads')
})

t.test('database down: 503 with Retry-After; back up: the same request works without a restart', async (t) => {
  // No leg cache, so every request asks the database.
  const live = await gateway({ LEG_CACHE_TTL_MS: '0' })
  const url = `/recordings/${call}:1002:${ani}:${t0 + 40_000}`
  t.equal((await live.inject({ method: 'GET', url })).statusCode, 200, 'a pooled connection exists')

  await pg.stop()
  try {
    for (const method of ['GET', 'HEAD', 'GET'] as const) {
      const res = await live.inject({ method, url })
      t.equal(res.statusCode, 503, method)
      t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After')
      t.notOk(res.body.includes(SECRET), 'the answer does not carry the database password')
      if (method === 'GET') {
        t.match(res.json(), { statusCode: 503, error: 'Service Unavailable', code: 'GW_ERR_UPSTREAM_UNAVAILABLE', message: /efswitch/ })
      }
    }
  } finally {
    await pg.start()
  }
  const back = await live.inject({ method: 'GET', url })
  t.equal(back.statusCode, 200)
  t.ok(back.rawPayload.equals(second.bytes))
})

t.test('the database password never reaches the log', async (t) => {
  t.ok(logLines.length > 0, 'something was logged')
  t.notOk(rawLog.join('').includes(SECRET))
})
