/*
 * A FIFO (or any file that is not a regular file) where a recording was: the real gateway process must
 * refuse it without blocking a libuv worker. Opening a FIFO for reading blocks until a writer comes;
 * with four workers, four such requests used to stall every other file operation, and SIGTERM could no
 * longer end the process.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { request } from 'undici'
import { startGatewayProcess } from './helpers/gateway-process.js'
import { dayDirectory, insertCdrRow, recordingFileName, startSwitch, writeRecording } from './helpers/efswitch-fixtures.js'

const { databaseUrl, cdr, root } = await startSwitch(t)
const day = dayDirectory(root, '2026-12-05')
const ani = '+41441234567'
const t0 = Date.parse('2026-12-05T10:00:00Z')
const mkfifo = (path: string): Promise<unknown> => promisify(execFile)('mkfifo', [path])

const swapped = 'swapped-later@pbx.example.com'
const swappedFile = await writeRecording(day, { dialogId: swapped, agentExtension: '1001', ani, start: t0, seconds: 2 })
const fifoFromStart = 'fifo-from-start@pbx.example.com'
await mkfifo(join(day, recordingFileName({ dialogId: fifoFromStart, agentExtension: '1001', ani, start: t0 })))
const healthy = 'healthy@pbx.example.com'
const healthyFile = await writeRecording(day, { dialogId: healthy, agentExtension: '1002', ani, start: t0 + 5_000, seconds: 1, freq: 600 })
for (const callId of [swapped, fifoFromStart, healthy]) await insertCdrRow(cdr, { callId, recordPath: day })

const gw = startGatewayProcess(t, 'fifo', {
  RECORDING_VENDOR: 'efswitch',
  EFSWITCH_DATABASE_URL: databaseUrl,
  EFSWITCH_RECORDINGS_ROOT: root,
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  SHUTDOWN_TIMEOUT_MS: '5000'
})

async function origin(): Promise<string> {
  for (;;) {
    for (const line of gw.lines) {
      const found = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
      if (found) return found[1]!
    }
    if (gw.exited()) throw new Error(`the gateway exited: ${gw.lines.join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
const base = await origin()

/** A GET that gives up after 10 s: a request stuck behind a blocked worker fails the test, not hangs it. */
async function get(legId: string): Promise<{ status: number; body: Buffer; type: string | undefined }> {
  const res = await request(`${base}/recordings/${encodeURIComponent(legId)}`, { signal: AbortSignal.timeout(10_000) })
  const body = Buffer.from(await res.body.arrayBuffer())
  const type = res.headers['content-type']
  return { status: res.statusCode, body, type: Array.isArray(type) ? type[0] : type }
}

t.test('FIFOs are refused with a JSON error, never opened in a blocking way', async (t) => {
  const swappedLeg = `${swapped}:1001:${ani}:${t0}`
  const first = await get(swappedLeg)
  t.equal(first.status, 200, 'served while it is a file: the listing and the WAV layout are now cached')
  t.ok(first.body.equals(swappedFile.bytes))

  await rm(swappedFile.path)
  await mkfifo(swappedFile.path)
  // More requests than libuv has workers (4 by default), each of which used to block one for good.
  const answers = await Promise.all(Array.from({ length: 8 }, () => get(swappedLeg)))
  for (const answer of answers) {
    t.equal(answer.status, 502, 'a FIFO where the recording was')
    t.equal(answer.type, 'application/json; charset=utf-8')
    t.match(JSON.parse(answer.body.toString()), {
      statusCode: 502,
      code: 'GW_ERR_UPSTREAM',
      message: /is not a regular file \(FIFO\)/
    })
  }

  const never = await Promise.all(Array.from({ length: 4 }, () => get(`${fifoFromStart}:1001:${ani}:${t0}`)))
  for (const answer of never) {
    t.equal(answer.status, 404, 'a FIFO that was there when the directory was listed is no leg at all')
    t.match(JSON.parse(answer.body.toString()), { statusCode: 404, code: 'GW_ERR_LEG_NOT_FOUND' })
  }

  const fine = await get(`${healthy}:1002:${ani}:${t0 + 5_000}`)
  t.equal(fine.status, 200, 'another recording still answers')
  t.ok(fine.body.equals(healthyFile.bytes))

  const refusals = gw.lines.filter((line) => line.includes('not a regular file'))
  t.ok(refusals.some((line) => line.includes(swappedFile.path) && line.includes('FIFO')), 'the swapped FIFO is logged with its path')
  t.ok(
    refusals.some((line) => line.includes(fifoFromStart)),
    'the FIFO found in the directory is logged too'
  )
})

t.test('SIGTERM still ends the process', async (t) => {
  const exited = once(gw.child, 'exit')
  gw.child.kill('SIGTERM')
  const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())
  const result = await Promise.race([exited, timeout])
  t.not(result, 'hung', 'exited within 20 s of SIGTERM')
  t.equal(gw.child.exitCode, 0)
})
