/*
 * EFSwitch files are served with a fresh header: a recording whose `fmt ` chunk carries 600 KiB of
 * padding must not have it copied into that header (nor into the layout cache), and sox must read the
 * served file exactly as the stored one.
 */
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { insertCall, startSwitch, writeRecording } from './helpers/efswitch-fixtures.js'
import { padFmtChunk } from './helpers/padded-fmt.js'
import { soxSamples } from './helpers/sox.js'
import { findChunk } from './helpers/wav-craft.js'

t.test('EFSwitch: a 600 KiB fmt chunk is served as an 18-byte fmt, same samples as sox reads from the file', async (t) => {
  const { databaseUrl, cdr, root } = await startSwitch(t)

  const dialogId = randomUUID()
  const dir = join(root, 'example.com', 'archive', '2026', 'Dec', '06')
  const start = 1_764_000_000_000
  const { path } = await writeRecording(dir, { dialogId, agentExtension: '1001', ani: '+41', start, seconds: 0.7 })
  await padFmtChunk(path, 600 * 1024)
  await insertCall(cdr, dialogId, dir)

  const config = loadConfig({
    RECORDING_VENDOR: 'efswitch',
    EFSWITCH_DATABASE_URL: databaseUrl,
    EFSWITCH_RECORDINGS_ROOT: root,
    LOG_LEVEL: 'silent',
    MAX_EVENT_LOOP_DELAY_MS: '0'
  })
  const app = await buildApp({ config, logger: false })
  t.teardown(() => app.close())

  const res = await app.inject({ method: 'GET', url: `/recordings/${dialogId}:1001:+41:${start}` })
  t.equal(res.statusCode, 200)
  const served = res.rawPayload
  t.equal(findChunk(served, 'fmt ').size, 18, 'fmt: the 16 PCM bytes and a cbSize of 0')
  t.equal(served.length, 44 + 2 + 0.7 * 8000 * 2, 'an 18-byte fmt header and the audio, nothing else')
  const out = join(root, 'served.wav')
  await writeFile(out, served)
  t.same([...(await soxSamples(out))], [...(await soxSamples(path))], 'sox reads the same samples')
})
