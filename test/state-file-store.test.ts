import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { FileStateStore, JOURNAL_FILE, SNAPSHOT_FILE, StateFileError } from '../src/state/file-store.js'
import type { PendingCall } from '../src/state/types.js'
import { tempDir } from './helpers/sox.js'

const pending = (dialogId: string, firstSeenAt = 1000): PendingCall => ({
  dialogId,
  legs: [
    {
      legId: `${dialogId}:1001:+41:${firstSeenAt}`,
      dialogId,
      agentExtension: '1001',
      ani: '+41',
      start: firstSeenAt,
      channelSessionId: 'cs',
      conversationId: null
    }
  ],
  waiting: [`${dialogId}:1001:+41:${firstSeenAt}`],
  firstSeenAt,
  attempts: 1,
  lastError: 'no recording yet'
})

t.test('everything written is there after a reopen, without a clean close', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  const a = await FileStateStore.open(dir)
  await Promise.all([a.recordAccepted('L1', 10), a.recordAccepted('L2', 11), a.recordAccepted('L3', 12)])
  await a.recordFailed({ legId: 'F1', at: 13, reason: 'CX answered 400: no such conversation' })
  await a.upsertPending(pending('P1'))
  await a.upsertPending(pending('P2'))
  await a.removePending('P1')
  await a.advanceCursor(5000)
  // No close, no checkpoint: what a kill -9 leaves behind is the snapshot of start-up plus the journal.
  const journal = await readFile(join(dir, JOURNAL_FILE), 'utf8')
  t.equal(journal.trim().split('\n').length, 8, 'one journal line per write')

  const b = await FileStateStore.open(dir)
  t.teardown(() => b.close())
  const view = await b.load()
  t.equal(view.cursor, 5000)
  t.same(view.pending.map((p) => p.dialogId), ['P2'])
  t.same(view.pending[0], pending('P2'))
  const settled = await b.settled(['L1', 'L2', 'L3', 'F1', 'unknown'])
  t.same([...settled], [['L1', 'accepted'], ['L2', 'accepted'], ['L3', 'accepted'], ['F1', 'failed']])
  t.equal(await readFile(join(dir, JOURNAL_FILE), 'utf8'), '', 'start-up folded the journal into the snapshot')
  const snap = JSON.parse(await readFile(join(dir, SNAPSHOT_FILE), 'utf8')) as { cursor: number; accepted: Record<string, number> }
  t.equal(snap.cursor, 5000)
  t.same(Object.keys(snap.accepted).sort(), ['L1', 'L2', 'L3'])
  await a.close().catch(() => undefined)
})

t.test('a torn last journal line (kill during its write) is ignored; the lines before it count', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  const a = await FileStateStore.open(dir)
  await a.recordAccepted('L1', 10)
  await a.advanceCursor(7000)
  await appendFile(join(dir, JOURNAL_FILE), '{"e":"acc","leg":"L2","a')
  const warnings: string[] = []
  const b = await FileStateStore.open(dir, { warn: (m) => warnings.push(m) })
  t.teardown(() => b.close())
  t.equal((await b.load()).cursor, 7000)
  t.same([...(await b.settled(['L1', 'L2']))], [['L1', 'accepted']])
  t.match(warnings, [/incomplete line/])
  // New lines must not be glued to the torn one.
  await b.recordAccepted('L3', 30)
  const c = await FileStateStore.open(dir)
  t.same([...(await c.settled(['L1', 'L2', 'L3']))], [['L1', 'accepted'], ['L3', 'accepted']])
  await c.close()
  await a.close().catch(() => undefined)
})

t.test('a corrupt journal line in the middle stops start-up naming the file and line', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  const a = await FileStateStore.open(dir)
  await a.recordAccepted('L1', 10)
  await appendFile(join(dir, JOURNAL_FILE), 'garbage\n{"e":"cursor","to":1}\n')
  const err = await FileStateStore.open(dir).then(
    () => null,
    (e: unknown) => e
  )
  t.type(err, StateFileError)
  t.match((err as Error).message, `State file ${join(dir, JOURNAL_FILE)} is corrupt: line 2: not valid JSON`)
  t.match((err as Error).message, /will not start over silently/)
  await a.close().catch(() => undefined)
})

t.test('an unknown event or a wrong field type is corruption too', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  await writeFile(join(dir, JOURNAL_FILE), '{"e":"acc","leg":"L1","at":"yesterday"}\n')
  await t.rejects(FileStateStore.open(dir), { name: 'StateFileError', message: /line 1: "at" must be a number/ })
  await writeFile(join(dir, JOURNAL_FILE), '{"e":"explode"}\n')
  await t.rejects(FileStateStore.open(dir), { name: 'StateFileError', message: /line 1: unknown event "explode"/ })
})

t.test('a corrupt snapshot stops start-up naming the file; nothing is overwritten', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  const path = join(dir, SNAPSHOT_FILE)
  await writeFile(path, '{"version":1,"cursor":12,"accepted":{"L1":')
  await t.rejects(FileStateStore.open(dir), { name: 'StateFileError', message: new RegExp(`State file ${path} is corrupt: not valid JSON`) })
  t.equal(await readFile(path, 'utf8'), '{"version":1,"cursor":12,"accepted":{"L1":', 'left as found for an operator to look at')
  await writeFile(path, JSON.stringify({ version: 99 }))
  await t.rejects(FileStateStore.open(dir), { message: /unsupported version 99/ })
  await writeFile(path, JSON.stringify({ version: 1, cursor: 'x', accepted: {}, failed: {}, pending: [] }))
  await t.rejects(FileStateStore.open(dir), { message: /"cursor" must be a number/ })
})

t.test('prune forgets ledger and failed entries older than the horizon, and it sticks', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  const a = await FileStateStore.open(dir)
  await a.recordAccepted('old', 100)
  await a.recordAccepted('new', 900)
  await a.recordFailed({ legId: 'old-failed', at: 50, reason: 'x' })
  await a.recordFailed({ legId: 'new-failed', at: 950, reason: 'y' })
  t.equal(await a.prune(500), 2)
  t.same([...(await a.settled(['old', 'new', 'old-failed', 'new-failed']))], [['new', 'accepted'], ['new-failed', 'failed']])
  const b = await FileStateStore.open(dir)
  t.same([...(await b.settled(['old', 'new', 'old-failed', 'new-failed']))], [['new', 'accepted'], ['new-failed', 'failed']])
  await b.close()
  await a.close().catch(() => undefined)
})

t.test('concurrent writes share fsyncs and all land; a checkpoint in between loses none', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  const a = await FileStateStore.open(dir)
  const writes: Promise<void>[] = []
  for (let i = 0; i < 500; i++) {
    writes.push(a.recordAccepted(`L${i}`, i))
    if (i === 250) writes.push(a.checkpoint())
  }
  await Promise.all(writes)
  t.ok(a.journalSyncs < 500, `group commit: ${a.journalSyncs} fsyncs for 500 concurrent lines`)
  const b = await FileStateStore.open(dir)
  const settled = await b.settled(Array.from({ length: 500 }, (_, i) => `L${i}`))
  t.equal(settled.size, 500)
  await b.close()
  await a.close().catch(() => undefined)
})

t.test('run reports survive a restart', async (t) => {
  const dir = await tempDir(t, 'cxgw-state-')
  const a = await FileStateStore.open(dir)
  t.equal(await a.latestRunReport(), null)
  const report = {
    id: 'r1',
    instance: 'i',
    trigger: 'schedule' as const,
    windows: [],
    calls: 1,
    legs: 2,
    matched: 2,
    pushed: 2,
    alreadyPushed: 0,
    pending: 0,
    failed: 0,
    droppedPending: 0,
    status: 'ok' as const,
    error: null,
    startedAt: new Date(0).toISOString(),
    durationMs: 5
  }
  await a.saveRunReport(report)
  await a.close()
  const b = await FileStateStore.open(dir)
  t.same(await b.latestRunReport(), report)
  await b.close()
})
