import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import postgres from 'postgres'
import { request } from 'undici'
import { toneMp3 } from '../../simulators/mp3-tone.js'
import { callrecMergedCouples } from '../../src/demo/callrec.js'
import { ffprobeFormat, ffprobePackets } from '../helpers/mp3-tools.js'
import { tempDir } from '../helpers/sox.js'
import { startDemo } from '../helpers/demo-process.js'

/*
 * `npm run demo -- --callrec` as a newcomer runs it: couples in a throw-away PostgreSQL, the servlets
 * simulated, one push run linking every CX leg, the held call's link serving one MP3 of its three
 * couples; Ctrl-C stops everything, the database included.
 */

t.test('the CallREC demo pushes a link per leg (the hold joined, 1002 → 1003 → 1002 apart) serves the held call as one MP3, and cleans up on Ctrl-C', async (t) => {
  const demo = await startDemo(t, ['--callrec'])
  const stdout = demo.stdout()

  t.match(stdout, /Push run \S+: ok, 4 links pushed to CX \(2 calls, 4 legs, 4 matched, 0 pending\)/)
  const links = [...stdout.matchAll(/^ {4}(http:\/\/127\.0\.0\.1:\d+\/recordings\/\S+)$/gm)].map((m) => m[1]!)
  t.equal(links.length, 4, 'every pushed link is printed')
  t.ok(links.every((l) => /\?sig=[A-Za-z0-9_-]{43}$/.test(l)), 'every link is signed')
  t.match(stdout, /^ {2}curl -o merged\.mp3 'http:\/\/127\.0\.0\.1:\d+\/recordings\/demo-callrec-holds%3A1001%3A[^']+'$/m)
  t.match(stdout, /^ {2}ffprobe -hide_banner merged\.mp3$/m)

  // The merged recording, checked against the same couples encoded again (lamejs is deterministic).
  const curl = /^ {2}curl -o merged\.mp3 '([^']+)'$/m.exec(stdout)
  if (curl === null) throw new Error(`no curl line in:\n${stdout}`)
  const res = await request(curl[1]!)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'audio/mpeg')
  const dir = await tempDir(t, 'cxgw-callrec-demo-')
  const merged = join(dir, 'merged.mp3')
  await writeFile(merged, Buffer.from(await res.body.arrayBuffer()))
  const format = await ffprobeFormat(merged)
  t.match(format, { codec: 'mp3', sampleRate: 8000, channels: 1 }, 'what ffprobe says: 8 kHz mono MP3')
  const parts = await Promise.all(
    callrecMergedCouples().map(async (c, i) => {
      const path = join(dir, `couple-${i}.mp3`)
      await writeFile(path, toneMp3({ seconds: c.seconds, freq: c.freq }))
      return ffprobePackets(path)
    })
  )
  const frames = await ffprobePackets(merged)
  t.equal(frames.length, parts.flat().length, 'the frames of the three couples')
  t.ok(frames.every((f, i) => f.data.equals(parts.flat()[i]!.data)), 'byte for byte, in order')
  t.equal(format.durationSeconds.toFixed(3), ((frames.length * 576) / 8000).toFixed(3), 'the duration the Info frame gives')

  const databaseUrl = /CallREC database {2}(postgres:\/\/\S+)/.exec(stdout)?.[1]
  if (databaseUrl === undefined) throw new Error(`no database line in:\n${stdout}`)
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  const rows = await sql<{ sid: string; start_ts: string }[]>`select sid, start_ts::text from callrec.couples order by start_ts, sid`
  t.equal(rows.length, 6, 'six couples: three of the held call, three of the back-and-forth one')
  await sql.end({ timeout: 5 })

  demo.child.kill('SIGINT')
  const [code, signal] = await demo.exited
  t.equal(signal, null)
  t.equal(code, 0, `clean exit (stderr: ${demo.stderr()})`)
  t.match(demo.stdout(), /Stopped\.\n$/)
  const after = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  await t.rejects(after`select 1`, 'the throw-away database is gone')
  await after.end({ timeout: 1 })
})
