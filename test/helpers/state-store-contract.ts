import type { Test } from 'tap'
import type { PendingCall, PushRunReport, StateStore } from '../../src/state/types.js'

/*
 * What every StateStore must do, whatever it keeps its state in: the behavioural cases the file store
 * and the PostgreSQL store both run (test/state-postgres-contract.test.ts). Store-specific failure
 * modes (torn journal lines, a database restart) are tested beside each store.
 */

/** Durable state for one case: `open` returns a store on it, again and again (a restart). */
export interface StoreSubject {
  open(): Promise<StateStore>
}

export type SubjectFactory = (t: Test) => Promise<StoreSubject>

export function pendingCall(dialogId: string, firstSeenAt = 1_764_000_000_123, waiting = 1): PendingCall {
  const legs = Array.from({ length: 2 }, (_, i) => ({
    legId: `${dialogId}:100${i}:+41441234567:${firstSeenAt + i}`,
    dialogId,
    agentExtension: `100${i}`,
    ani: '+41441234567',
    start: firstSeenAt + i,
    channelSessionId: i === 0 ? `cs-${dialogId}` : null,
    conversationId: i === 0 ? null : `conv-${dialogId}`
  }))
  return {
    dialogId,
    legs,
    waiting: legs.slice(0, waiting).map((l) => l.legId),
    firstSeenAt,
    attempts: 1,
    lastError: 'no recording yet'
  }
}

export function runReport(id: string, over: Partial<PushRunReport> = {}): PushRunReport {
  return {
    id,
    instance: 'gw-a',
    trigger: 'schedule',
    windows: [{ start: '2026-03-02T11:00:00.000Z', end: '2026-03-02T12:00:00.000Z' }],
    calls: 3,
    legs: 4,
    matched: 4,
    pushed: 4,
    alreadyPushed: 0,
    pending: 0,
    failed: 0,
    droppedPending: 0,
    status: 'ok',
    error: null,
    startedAt: '2026-03-02T12:00:00.000Z',
    durationMs: 1234,
    ...over
  }
}

async function opened(t: Test, subject: StoreSubject): Promise<StateStore> {
  const store = await subject.open()
  let closed = false
  t.teardown(async () => {
    if (!closed) await store.close()
  })
  const close = store.close.bind(store)
  store.close = async () => {
    closed = true
    await close()
  }
  return store
}

export function stateStoreContract(t: Test, makeSubject: SubjectFactory): void {
  t.test('a new store is empty', async (t) => {
    const store = await opened(t, await makeSubject(t))
    t.same(await store.load(), { cursor: null, pending: [] })
    t.same([...(await store.settled([]))], [])
    t.same([...(await store.settled(['x:1:2:3']))], [])
    t.equal(await store.latestRunReport(), null)
  })

  t.test('every write is there after a restart', async (t) => {
    const subject = await makeSubject(t)
    const a = await opened(t, subject)
    await Promise.all([a.recordAccepted('L1', 10), a.recordAccepted('L2', 11), a.recordAccepted('L3', 12)])
    await a.recordFailed({ legId: 'F1', at: 13, reason: 'CX answered 400: no such conversation' })
    await a.upsertPending(pendingCall('P1'))
    await a.upsertPending(pendingCall('P2'))
    await a.removePending('P1')
    await a.advanceCursor(1_764_000_000_123)
    await a.close()

    const b = await opened(t, subject)
    const view = await b.load()
    t.equal(view.cursor, 1_764_000_000_123, 'the cursor to the millisecond')
    t.same(view.pending, [pendingCall('P2')], 'the pending call as written, nulls included')
    const settled = await b.settled(['L1', 'L2', 'L3', 'F1', 'unknown'])
    t.same(new Map(settled), new Map([['L1', 'accepted'], ['L2', 'accepted'], ['L3', 'accepted'], ['F1', 'failed']]))
  })

  t.test('accepted wins over failed, whichever came first', async (t) => {
    const store = await opened(t, await makeSubject(t))
    await store.recordFailed({ legId: 'A', at: 1, reason: 'rejected once' })
    await store.recordAccepted('A', 2)
    await store.recordAccepted('B', 3)
    await store.recordFailed({ legId: 'B', at: 4, reason: 'too late to matter' })
    t.same(new Map(await store.settled(['A', 'B'])), new Map([['A', 'accepted'], ['B', 'accepted']]))
    // The failed entry of A is gone: pruning everything counts A once and B once.
    t.equal(await store.prune(1_000), 2)
  })

  t.test('writes are idempotent: the same write twice leaves one entry', async (t) => {
    const store = await opened(t, await makeSubject(t))
    await store.recordAccepted('A', 10)
    await store.recordAccepted('A', 10)
    await store.recordFailed({ legId: 'F', at: 10, reason: 'x' })
    await store.recordFailed({ legId: 'F', at: 10, reason: 'x' })
    await store.upsertPending(pendingCall('P'))
    await store.upsertPending(pendingCall('P'))
    await store.advanceCursor(500)
    await store.advanceCursor(500)
    t.same(await store.load(), { cursor: 500, pending: [pendingCall('P')] })
    t.equal(await store.prune(11), 2, 'one ledger entry, one failed entry')
  })

  t.test('a pending call is replaced as a whole and removed; removing an unknown call is a no-op', async (t) => {
    const store = await opened(t, await makeSubject(t))
    await store.upsertPending(pendingCall('P', 1000, 2))
    const retried: PendingCall = { ...pendingCall('P', 1000, 1), attempts: 2, lastError: 'CX answered 503' }
    await store.upsertPending(retried)
    await store.upsertPending(pendingCall('Q', 2000))
    t.same((await store.load()).pending.find((p) => p.dialogId === 'P'), retried)
    await store.removePending('P')
    await store.removePending('never-pending')
    t.same((await store.load()).pending, [pendingCall('Q', 2000)])
  })

  t.test('the cursor moves to the value given', async (t) => {
    const store = await opened(t, await makeSubject(t))
    await store.advanceCursor(2_000_000)
    await store.advanceCursor(3_000_000)
    t.equal((await store.load()).cursor, 3_000_000)
    // A backfill never moves the cursor, but an operator may set it back: the store does what it is told.
    await store.advanceCursor(1_000_000)
    t.equal((await store.load()).cursor, 1_000_000)
  })

  t.test('prune forgets entries strictly older than the horizon, and it sticks', async (t) => {
    const subject = await makeSubject(t)
    const a = await opened(t, subject)
    await a.recordAccepted('old', 1_764_000_000_099)
    await a.recordAccepted('edge', 1_764_000_000_100)
    await a.recordAccepted('new', 1_764_000_000_900)
    await a.recordFailed({ legId: 'old-failed', at: 1_764_000_000_050, reason: 'x' })
    await a.recordFailed({ legId: 'new-failed', at: 1_764_000_000_950, reason: 'y' })
    t.equal(await a.prune(1_764_000_000_100), 2, 'one millisecond older is pruned, the same millisecond is kept')
    const ids = ['old', 'edge', 'new', 'old-failed', 'new-failed']
    const expected = new Map([
      ['edge', 'accepted'],
      ['new', 'accepted'],
      ['new-failed', 'failed']
    ])
    t.same(new Map(await a.settled(ids)), expected)
    t.equal(await a.prune(1_764_000_000_100), 0, 'nothing left to prune')
    await a.close()
    const b = await opened(t, subject)
    t.same(new Map(await b.settled(ids)), expected, 'after a restart too')
  })

  t.test('prune with a longer ledger retention: accepted legs stay settled until forgetBefore, failed ones go at before', async (t) => {
    const subject = await makeSubject(t)
    const a = await opened(t, subject)
    const DAY = 86_400_000
    const now = 1_764_000_000_000
    await a.recordAccepted('ancient', now - 40 * DAY)
    await a.recordAccepted('older', now - 10 * DAY)
    await a.recordAccepted('recent', now - 1000)
    await a.recordFailed({ legId: 'failed-older', at: now - 10 * DAY, reason: 'x' })
    await a.prune(now - DAY, now - 30 * DAY)
    const ids = ['ancient', 'older', 'recent', 'failed-older']
    const expected = new Map([
      ['older', 'accepted'],
      ['recent', 'accepted']
    ])
    t.same(new Map(await a.settled(ids)), expected, 'past the retention forgotten; within it still accepted; failed pruned')
    await a.close()
    const b = await opened(t, subject)
    t.same(new Map(await b.settled(ids)), expected, 'after a restart too')
  })

  t.test('leg ids are opaque text: quotes, colons, unicode, percent signs', async (t) => {
    const store = await opened(t, await makeSubject(t))
    const odd = [`d'1";drop table x;--:1001:+41:1`, 'dïälög:ext%3A1:ani:2', 'a\\b:1:2:3', '  spaced  :1:2:4']
    for (const id of odd) await store.recordAccepted(id, 5)
    await store.recordFailed({ legId: 'ünïcode:1:2:3', at: 5, reason: `reason with 'quotes' and "more"` })
    const settled = await store.settled([...odd, 'ünïcode:1:2:3', 'd'])
    t.same(new Map(settled), new Map([...odd.map((id) => [id, 'accepted'] as const), ['ünïcode:1:2:3', 'failed'] as const]))
  })

  t.test('many concurrent writes all land', async (t) => {
    const subject = await makeSubject(t)
    const a = await opened(t, subject)
    const ids = Array.from({ length: 300 }, (_, i) => `L${i}`)
    await Promise.all([
      ...ids.map((id, i) => a.recordAccepted(id, i)),
      ...Array.from({ length: 20 }, (_, i) => a.upsertPending(pendingCall(`P${i}`, 1000 + i))),
      a.checkpoint()
    ])
    await a.close()
    const b = await opened(t, subject)
    t.equal((await b.settled(ids)).size, 300)
    t.equal((await b.load()).pending.length, 20)
  })

  t.test('the latest run report is the last one saved; saving the same run again replaces it', async (t) => {
    const subject = await makeSubject(t)
    const a = await opened(t, subject)
    await a.saveRunReport(runReport('r1'))
    await a.saveRunReport(runReport('r2', { instance: 'gw-b', status: 'running', pushed: 1 }))
    t.same(await a.latestRunReport(), runReport('r2', { instance: 'gw-b', status: 'running', pushed: 1 }))
    await a.saveRunReport(runReport('r2', { instance: 'gw-b', status: 'failed', error: 'aborted: push leadership lost' }))
    await a.close()
    const b = await opened(t, subject)
    t.same(await b.latestRunReport(), runReport('r2', { instance: 'gw-b', status: 'failed', error: 'aborted: push leadership lost' }))
  })
}
