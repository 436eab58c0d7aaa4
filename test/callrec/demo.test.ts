import t from 'tap'
import postgres from 'postgres'
import { startDemo } from '../helpers/demo-process.js'

/*
 * `npm run demo -- --callrec` as a newcomer runs it: couples in a throw-away PostgreSQL, the servlets
 * simulated, one push run linking every CX leg; Ctrl-C stops everything, the database included.
 */

t.test('the CallREC demo pushes a link per leg (the hold joined, 1002 → 1003 → 1002 apart) and cleans up on Ctrl-C', async (t) => {
  const demo = await startDemo(t, ['--callrec'])
  const stdout = demo.stdout()

  t.match(stdout, /Push run \S+: ok, 4 links pushed to CX \(2 calls, 4 legs, 4 matched, 0 pending\)/)
  const links = [...stdout.matchAll(/^ {4}(http:\/\/127\.0\.0\.1:\d+\/recordings\/\S+)$/gm)].map((m) => m[1]!)
  t.equal(links.length, 4, 'every pushed link is printed')
  t.ok(links.every((l) => /\?sig=[A-Za-z0-9_-]{43}$/.test(l)), 'every link is signed')
  t.match(stdout, /^ {2}curl -o merged\.mp3 'http:\/\/127\.0\.0\.1:\d+\/recordings\/demo-callrec-holds%3A1001%3A[^']+'$/m)
  t.match(stdout, /^ {2}ffprobe -hide_banner merged\.mp3$/m)

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
