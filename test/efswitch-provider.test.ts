import t from 'tap'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buffer } from 'node:stream/consumers'
import { randomUUID } from 'node:crypto'
import { DEFAULT_EFSWITCH_PATH_QUERY } from '../src/config.js'
import { chooseClosestLeg } from '../src/retrieval/closest-leg.js'
import { matchLegs } from '../src/legs/match.js'
import { EfswitchProvider } from '../src/providers/efswitch/provider.js'
import { RecordingsRoot } from '../src/providers/efswitch/recordings-root.js'
import { startPostgres } from './helpers/postgres.js'
import {
  createCdrTable,
  insertCall,
  recordingFileName,
  recordingsRoot,
  warnCollector,
  writeRecording
} from './helpers/efswitch-fixtures.js'

/** How many leading bytes these tests ask for; the resolver's own probe sizes are tested over HTTP. */
const HEAD_PROBE_BYTES = 64 * 1024

const pg = await startPostgres()
t.teardown(() => pg.close())
const databaseUrl = await pg.createDatabase('efswitch')
const cdr = await createCdrTable(databaseUrl)
t.teardown(() => cdr.end({ timeout: 5 }))
const root = await recordingsRoot(t)
const outside = await recordingsRoot(t)

function provider(overrides: Partial<ConstructorParameters<typeof EfswitchProvider>[0]> = {}) {
  const logs = warnCollector()
  const p = new EfswitchProvider({
    databaseUrl,
    recordingsRoot: root,
    pathQuery: DEFAULT_EFSWITCH_PATH_QUERY,
    log: logs.log,
    ...overrides
  })
  t.teardown(() => p.close())
  return { p, warnings: logs.warnings }
}

function refusedValues(warnings: { obj: unknown }[]): string[] {
  return warnings.flatMap((w) => Object.values((w.obj as { refused: Record<string, string> }).refused))
}

/** One transferred call: agent 1001 answers, transfers to 1002, takes the call back, 1003 joins. */
const call = randomUUID()
const callDir = join(root, 'example.com', 'archive', '2025', call)
const t0 = 1_764_000_000_000
const legsOnDisk = [
  { dialogId: call, agentExtension: '1001', ani: '+41441234567', start: t0, freq: 300 },
  { dialogId: call, agentExtension: '1002', ani: '+41441234567', start: t0 + 60_000, freq: 500 },
  { dialogId: call, agentExtension: '1001', ani: '+41441234567', start: t0 + 120_000, freq: 700 },
  { dialogId: call, agentExtension: '1003', ani: '', start: t0 + 180_000, freq: 900 }
]
const written = new Map<string, Buffer>()
// Written out of order: the provider must sort by start.
for (const spec of [...legsOnDisk].reverse()) {
  const { path, bytes } = await writeRecording(callDir, spec)
  written.set(path, bytes)
}
// Neighbours that must be ignored: another call's file in the same directory, files not named like a
// leg, a directory named like one.
const otherCall = randomUUID()
await writeRecording(callDir, { dialogId: otherCall, agentExtension: '1001', ani: '+41441234567', start: t0 + 1 })
await writeFile(join(callDir, 'notes.txt'), 'not a recording')
await writeFile(join(callDir, `${call}:1001:+41441234567.wav`), 'three parts only')
await writeFile(join(callDir, `${call}:1001:+41441234567:${t0}.mp3`), 'wrong suffix')
await writeFile(join(callDir, `${call}:10 01:+41441234567:${t0}.wav`), 'a character no legId can have')
await mkdir(join(callDir, recordingFileName({ dialogId: call, agentExtension: '1009', ani: '1', start: t0 })))
await insertCall(cdr, call, callDir)
await insertCall(cdr, otherCall, callDir)

t.test('lists every leg file of the call, sorted by start, other files ignored', async (t) => {
  const { p, warnings } = provider()
  const legs = await p.findLegs(call)
  t.same(
    legs.map((l) => [l.agentExtension, l.ani, l.start, l.end, l.segments.map((s) => s.id)]),
    legsOnDisk.map((s) => [s.agentExtension, s.ani, s.start, null, [join(callDir, recordingFileName(s))]])
  )
  t.ok(legs.every((l) => l.dialogId === call))
  t.same(warnings, [])

  t.same((await p.findLegs(otherCall)).map((l) => l.agentExtension), ['1001'], 'the neighbour call sees only its file')
  t.same(await p.findLegs(call.toUpperCase()).then((l) => l.length), 4, 'dialogId compares case-insensitively')
})

t.test('the same agent at two start times: the closest start is chosen', async (t) => {
  const { p } = provider()
  const legs = await p.findLegs(call)
  t.same(p.matchPolicy, { requireSameIdentity: true, toleranceMs: Infinity })
  const key = (startTime: number) => ({ dialogId: call, agentExtension: '1001', ani: '+41441234567', startTime })
  t.equal(chooseClosestLeg(legs, key(t0 + 10_000), true)?.start, t0)
  t.equal(chooseClosestLeg(legs, key(t0 + 100_000), true)?.start, t0 + 120_000)
  t.equal(chooseClosestLeg(legs, key(t0 + 9_000_000), true)?.start, t0 + 120_000, 'whatever the distance')
  t.equal(chooseClosestLeg(legs, { ...key(t0), ani: '999' }, true), undefined, 'another ANI never matches')
  t.equal(chooseClosestLeg(legs, { ...key(t0 + 180_000), agentExtension: '1004' }, true), undefined)

  // The push job's pairing: both 1001 legs, 1002 and the anonymous 1003 leg each get their own file.
  const cx = [
    { agentExtension: '1001', ani: '+41441234567', start: t0 + 500 },
    { agentExtension: '1002', ani: '+41441234567', start: t0 + 61_000 },
    { agentExtension: '1001', ani: '+41441234567', start: t0 + 119_000 },
    { agentExtension: '1003', ani: '', start: t0 + 181_000 },
    { agentExtension: '1005', ani: '+41441234567', start: t0 + 120_000 }
  ]
  const toleranceMs = p.matchPolicy.toleranceMs ?? 0
  const pairs = matchLegs(cx, legs, { toleranceMs, requireSameIdentity: p.matchPolicy.requireSameIdentity })
  t.same(
    pairs.map((m) => m.vendor?.start ?? null),
    [t0, t0 + 60_000, t0 + 120_000, t0 + 180_000, null]
  )
})

t.test('unknown calls, ids that are not UUIDs, missing directories and empty paths give no legs', async (t) => {
  const { p, warnings } = provider()
  t.same(await p.findLegs(randomUUID()), [], 'no row')
  t.same(await p.findLegs('not-a-uuid'), [], 'not a UUID: the database rejects it, no 500')
  t.same(await p.findLegs('bad\0id'), [], 'NUL in the id')
  const noDir = randomUUID()
  await insertCall(cdr, noDir, join(root, 'not-yet-written'))
  t.same(await p.findLegs(noDir), [], 'directory does not exist (yet)')
  const noPath = randomUUID()
  await insertCall(cdr, noPath, null)
  t.same(await p.findLegs(noPath), [], 'record_path is null')
  const emptyDir = randomUUID()
  await mkdir(join(root, emptyDir))
  await insertCall(cdr, emptyDir, join(root, emptyDir))
  t.same(await p.findLegs(emptyDir), [], 'empty directory')
  t.same(warnings, [], 'none of these is a refusal')
})

t.test('a relative record_path is taken inside the root', async (t) => {
  const id = randomUUID()
  const { path } = await writeRecording(join(root, 'relative', id), { dialogId: id, agentExtension: '7', ani: '1', start: 5 })
  await insertCall(cdr, id, `relative/${id}`)
  const { p } = provider()
  t.same((await p.findLegs(id)).map((l) => l.segments[0]!.id), [path])
})

t.test('a record_path outside the root is refused and logged', async (t) => {
  const { p, warnings } = provider()
  const cases: [string, string][] = [
    ['/etc', 'absolute path elsewhere'],
    [`${root}/../..`, 'dot-dot out of the root'],
    [`${root}/example.com/../../${outside.split('/').pop()}`, 'dot-dot into a sibling'],
    ['../../../../../../etc', 'relative dot-dot']
  ]
  // A copy of a leg outside the root: were the refusal missing, this is what would be served.
  const escapee = randomUUID()
  await writeRecording(outside, { dialogId: escapee, agentExtension: '1', ani: '2', start: 3 })
  for (const [recordPath, why] of cases) {
    const id = randomUUID()
    await insertCall(cdr, id, recordPath)
    warnings.length = 0
    t.same(await p.findLegs(id), [], why)
    t.equal(warnings.length, 1, `${why}: one warning`)
    t.ok(refusedValues(warnings).includes(recordPath), `${why}: the offending value is logged`)
  }
  await insertCall(cdr, escapee, outside)
  warnings.length = 0
  t.same(await p.findLegs(escapee), [], 'the directory outside holds a matching file, still nothing')
  t.ok(refusedValues(warnings).includes(outside))

  // PostgreSQL text cannot hold NUL, so this one can only be shown on the guard itself.
  const guard = new RecordingsRoot(root, warnCollector().log)
  const nul = warnCollector()
  t.equal(await new RecordingsRoot(root, nul.log).resolveDirectory(`${callDir}\0/x`, call), null, 'NUL byte')
  t.ok(refusedValues(nul.warnings).includes(`${callDir}\0/x`))
  t.equal(await guard.resolveDirectory(callDir, call), callDir, 'the same directory without it is fine')
})

t.test('a directory symlink inside the root that leads outside is refused', async (t) => {
  const id = randomUUID()
  await writeRecording(join(outside, id), { dialogId: id, agentExtension: '1', ani: '2', start: 3 })
  await symlink(join(outside, id), join(root, `link-${id}`))
  await insertCall(cdr, id, join(root, `link-${id}`))
  const { p, warnings } = provider()
  t.same(await p.findLegs(id), [])
  t.ok(refusedValues(warnings).includes(join(root, `link-${id}`)))
})

t.test('symlinked files: leading outside the root refused and logged, inside the root accepted', async (t) => {
  const id = randomUUID()
  const dir = join(root, 'links', id)
  await mkdir(dir, { recursive: true })
  const escape = join(dir, recordingFileName({ dialogId: id, agentExtension: '1001', ani: '5', start: 100 }))
  await symlink('/etc/passwd', escape)
  const { path: target } = await writeRecording(join(root, 'links', 'store'), { dialogId: id, agentExtension: '1002', ani: '5', start: 200 })
  const inside = join(dir, recordingFileName({ dialogId: id, agentExtension: '1002', ani: '5', start: 200 }))
  await symlink(target, inside)
  await symlink(join(dir, 'missing.wav'), join(dir, recordingFileName({ dialogId: id, agentExtension: '1003', ani: '5', start: 300 })))
  await insertCall(cdr, id, dir)

  const { p, warnings } = provider()
  const legs = await p.findLegs(id)
  t.same(legs.map((l) => [l.agentExtension, l.segments[0]!.id]), [['1002', inside]], 'only the link inside the root')
  t.same(refusedValues(warnings).filter((v) => v === escape), [escape], 'the escaping link is logged')
  t.ok(refusedValues(warnings).includes('/etc/passwd'), 'with where it leads')
  t.same((await p.statSegment(legs[0]!.segments[0]!, HEAD_PROBE_BYTES)).size, (await readFile(target)).length)

  warnings.length = 0
  await t.rejects(p.statSegment({ id: escape }, HEAD_PROBE_BYTES), { statusCode: 404, code: 'GW_ERR_LEG_NOT_FOUND' }, 'a forged id naming the link is refused too')
  t.ok(refusedValues(warnings).includes(escape))
})

t.test('statSegment and openSegment read the file exactly', async (t) => {
  const { p } = provider()
  const legs = await p.findLegs(call)
  for (const leg of legs) {
    const segment = leg.segments[0]!
    const bytes = written.get(segment.id)!
    const info = await p.statSegment(segment, HEAD_PROBE_BYTES)
    t.equal(info.size, bytes.length)
    t.same(info.head, bytes.subarray(0, Math.min(HEAD_PROBE_BYTES, bytes.length)))
    t.same(await buffer(await p.openSegment(segment, { start: 0, end: bytes.length - 1 })), bytes, 'whole file')
    t.same(await buffer(await p.openSegment(segment, { start: 40, end: 1000 })), bytes.subarray(40, 1001), 'a slice')
    t.same(await buffer(await p.openSegment(segment, { start: 7, end: 7 })), bytes.subarray(7, 8), 'one byte')
  }
  const big = randomUUID()
  const { path, bytes } = await writeRecording(join(root, big), { dialogId: big, agentExtension: '1', ani: '', start: 1, seconds: 6 })
  t.ok(bytes.length > HEAD_PROBE_BYTES)
  t.same((await p.statSegment({ id: path }, HEAD_PROBE_BYTES)).head, bytes.subarray(0, HEAD_PROBE_BYTES), 'head is capped')
  t.same(await p.statSegment({ id: path }, 100), { size: bytes.length, head: bytes.subarray(0, 100) }, 'as many bytes as asked for')
  await t.rejects(p.statSegment({ id: path }, 0), RangeError, 'a head of no bytes is a programming error')
  await t.rejects(p.openSegment({ id: path }, { start: 0, end: bytes.length }), { statusCode: 502, code: 'GW_ERR_UPSTREAM' }, 'past the end')
})

t.test('forged segment ids are refused and logged', async (t) => {
  const { p, warnings } = provider()
  const forged = ['/etc/passwd', `${root}/../../etc/passwd`, 'relative.wav', `${root}/x\0.wav`]
  for (const id of forged) {
    warnings.length = 0
    await t.rejects(p.statSegment({ id }, HEAD_PROBE_BYTES), { statusCode: 404, code: 'GW_ERR_LEG_NOT_FOUND' }, id)
    await t.rejects(p.openSegment({ id }, { start: 0, end: 0 }), { statusCode: 404, code: 'GW_ERR_LEG_NOT_FOUND' }, id)
    t.ok(refusedValues(warnings).includes(id), `${JSON.stringify(id)} is logged`)
  }
  await t.rejects(p.statSegment({ id: join(root, 'gone.wav') }, HEAD_PROBE_BYTES), { statusCode: 404, code: 'GW_ERR_LEG_NOT_FOUND' }, 'a file that does not exist')
})

t.test('abort signals are honoured', async (t) => {
  const { p } = provider()
  const [leg] = await p.findLegs(call)
  const aborted = AbortSignal.abort()
  await t.rejects(p.findLegs(call, aborted), { name: 'AbortError' })
  await t.rejects(p.statSegment(leg!.segments[0]!, HEAD_PROBE_BYTES, aborted), { name: 'AbortError' })
  await t.rejects(p.openSegment(leg!.segments[0]!, { start: 0, end: 10 }, aborted), { name: 'AbortError' })

  const controller = new AbortController()
  const stream = await p.openSegment(leg!.segments[0]!, { start: 0, end: 1000 }, controller.signal)
  controller.abort()
  await t.rejects(buffer(stream), { name: 'AbortError' }, 'aborting mid-stream ends the stream with an error')

  // A slow query stops being waited for when its caller gives up (the server ends it at statement_timeout).
  const slow = provider({ pathQuery: 'select record_path from v_xml_cdr, pg_sleep(30) where xml_cdr_uuid = $1::uuid' })
  const c2 = new AbortController()
  const pending = slow.p.findLegs(call, c2.signal)
  setImmediate(() => c2.abort())
  await t.rejects(pending, { name: 'AbortError' })
})

t.test('a slow database answers 503', async (t) => {
  const { p } = provider({
    pathQuery: 'select record_path from v_xml_cdr, pg_sleep(2) where xml_cdr_uuid = $1::uuid',
    tuning: { queryTimeoutMs: 50 }
  })
  await t.rejects(p.findLegs(call), { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE', message: /timed out/ })
})

t.test('a broken path query is a 502, not a 500', async (t) => {
  const { p } = provider({ pathQuery: 'select no_such_column from v_xml_cdr where xml_cdr_uuid = $1::uuid' })
  await t.rejects(p.findLegs(call), { statusCode: 502, code: 'GW_ERR_UPSTREAM', message: /42703/ })
})

t.test('a missing recordings root is an outage (503)', async (t) => {
  const { p } = provider({ recordingsRoot: join(root, 'unmounted') })
  await t.rejects(p.findLegs(call), { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE' })
  await t.rejects(p.ping(), { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE' })
})

t.test('an unreachable database is 503; the pool recovers when it comes back', async (t) => {
  const { p } = provider()
  t.equal((await p.findLegs(call)).length, 4, 'the pool has a live connection')
  await p.ping()
  await pg.stop()
  try {
    await t.rejects(p.findLegs(call), { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE' })
    await t.rejects(p.findLegs(call), { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE' }, 'still down: refused connection')
    await t.rejects(p.ping(), { statusCode: 503, code: 'GW_ERR_UPSTREAM_UNAVAILABLE' })
  } finally {
    await pg.start()
  }
  t.equal((await p.findLegs(call)).length, 4, 'same provider, no restart')
  await p.ping()
})

t.test('a database that does not exist is 503; close ends the pool', async (t) => {
  const p = new EfswitchProvider({
    databaseUrl: databaseUrl.replace(/\/efswitch$/, '/nope'),
    recordingsRoot: root,
    pathQuery: DEFAULT_EFSWITCH_PATH_QUERY,
    log: warnCollector().log
  })
  await t.rejects(p.findLegs(call), { statusCode: 503, message: /3D000/ })
  await p.close()
  await t.rejects(p.findLegs(call), { statusCode: 503, message: /CONNECTION_ENDED/ }, 'closed pool')
})
