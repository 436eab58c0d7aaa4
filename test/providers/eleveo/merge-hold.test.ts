import t from 'tap'
import { mergeHoldLegs, type RawLeg } from '../../../src/providers/eleveo/merge-hold.js'

const T = 1_764_000_000_000

function raw(id: string, agentExtension: string, startS: number, endReason?: string | null, endS: number | null = startS + 10): RawLeg {
  return { id, dialogId: 'd', agentExtension, ani: '555', start: T + startS * 1000, end: endS === null ? null : T + endS * 1000, endReason }
}

function shape(legs: ReturnType<typeof mergeHoldLegs>): [string, number, string[]][] {
  return legs.map((l) => [l.agentExtension, (l.start - T) / 1000, l.segments.map((s) => s.id)])
}

const toSegment = (l: RawLeg): { id: string } => ({ id: l.id })

t.test('several holds of one agent become one leg, in order, whatever the input order', async (t) => {
  const legs = [raw('a3', '1', 40, 'HANGUP'), raw('a1', '1', 0, 'HOLD'), raw('a2', '1', 20, 'hold')]
  const merged = mergeHoldLegs(legs, toSegment)
  t.same(shape(merged), [['1', 0, ['a1', 'a2', 'a3']]])
  t.equal(merged[0]?.end, T + 50_000, 'ends when the last part ends')
})

t.test('holds on two agents are merged per agent, interleaved legs stay apart', async (t) => {
  const legs = [
    raw('a1', '1001', 0, 'HOLD'),
    raw('b1', '2002', 5, 'HOLD'),
    raw('a2', '1001', 10, 'HANGUP'),
    raw('b2', '2002', 15, 'HOLD'),
    raw('b3', '2002', 25, 'TRANSFER')
  ]
  t.same(shape(mergeHoldLegs(legs, toSegment)), [
    ['1001', 0, ['a1', 'a2']],
    ['2002', 5, ['b1', 'b2', 'b3']]
  ])
})

t.test('direct transfers of one agent are NOT merged', async (t) => {
  // The agent takes the call, transfers it away, and gets it back by direct transfer: two recordings.
  const legs = [raw('a1', '1', 0, 'TRANSFER'), raw('x1', '9', 10, 'TRANSFER'), raw('a2', '1', 20, 'HANGUP')]
  t.same(shape(mergeHoldLegs(legs, toSegment)), [
    ['1', 0, ['a1']],
    ['9', 10, ['x1']],
    ['1', 20, ['a2']]
  ])
  const back2back = [raw('a1', '1', 0, 'TRANSFER'), raw('a2', '1', 10, 'TRANSFER')]
  t.same(shape(mergeHoldLegs(back2back, toSegment)), [['1', 0, ['a1']], ['1', 10, ['a2']]], 'even back to back')
})

t.test('missing or empty end reasons never merge', async (t) => {
  const legs = [raw('a1', '1', 0, undefined), raw('a2', '1', 10, null), raw('a3', '1', 20, ''), raw('a4', '1', 30, '  ')]
  t.same(shape(mergeHoldLegs(legs, toSegment)), [['1', 0, ['a1']], ['1', 10, ['a2']], ['1', 20, ['a3']], ['1', 30, ['a4']]])
})

t.test('a HOLD with no continuation stays a leg of its own; a still-running part has no end', async (t) => {
  t.same(shape(mergeHoldLegs([raw('a1', '1', 0, 'HOLD')], toSegment)), [['1', 0, ['a1']]])
  const merged = mergeHoldLegs([raw('a1', '1', 0, ' Hold '), raw('a2', '1', 10, null, null)], toSegment)
  t.same(shape(merged), [['1', 0, ['a1', 'a2']]])
  t.equal(merged[0]?.end, null)
})

t.test('equal starts are ordered by id; empty input gives no legs', async (t) => {
  t.same(shape(mergeHoldLegs([raw('b', '1', 0), raw('a', '2', 0)], toSegment)), [['2', 0, ['a']], ['1', 0, ['b']]])
  t.same(mergeHoldLegs([], toSegment), [])
})
