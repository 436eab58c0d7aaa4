import t from 'tap'
import { mergeAdjacentCouples, type Couple } from '../../src/providers/eleveo/callrec/merge-adjacent.js'

const MIN = 60_000
const T = Date.parse('2026-12-06T09:00:00Z')
const GAP = 900_000

function couple(sid: string, agentExtension: string, startMin: number, stopMin: number | null, ani = '+420601000111'): Couple {
  return { sid, agentExtension, ani, start: T + startMin * MIN, stop: stopMin === null ? null : T + stopMin * MIN }
}

/** Legs as `agent:[sids]` for readable assertions. */
function shape(couples: Couple[], maxGapMs = GAP): string[] {
  return mergeAdjacentCouples(couples, 'D1', maxGapMs).map((l) => `${l.agentExtension}:${l.segments.map((s) => s.id).join('+')}`)
}

t.test('a hold split (same agent, nobody in between, short gap) is one leg spanning all its parts', async (t) => {
  const legs = mergeAdjacentCouples([couple('c3', '1001', 14, 20), couple('c1', '1001', 0, 5), couple('c2', '1001', 7, 12)], 'D1', GAP)
  t.equal(legs.length, 1)
  t.same(legs[0], {
    dialogId: 'D1',
    agentExtension: '1001',
    ani: '+420601000111',
    start: T,
    end: T + 20 * MIN,
    segments: [{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }]
  }, 'parts in start order, whatever order the database returned')
})

t.test('A → B → A gives three legs, even with short gaps', async (t) => {
  t.same(shape([couple('a1', '1001', 0, 5), couple('b1', '1002', 5, 8), couple('a2', '1001', 8, 10)]), ['1001:a1', '1002:b1', '1001:a2'])
})

t.test('another agent starting between two couples of one agent keeps them apart, even while overlapping', async (t) => {
  // A consult: B rings while A holds; A's second part starts after B's start.
  t.same(shape([couple('a1', '1001', 0, 5), couple('b1', '1002', 5.5, 6), couple('a2', '1001', 7, 10)]), ['1001:a1', '1002:b1', '1001:a2'])
  // B started before A's first part: A's parts are still adjacent.
  t.same(shape([couple('b1', '1002', -1, 30), couple('a1', '1001', 0, 5), couple('a2', '1001', 7, 10)]), ['1002:b1', '1001:a1+a2'])
})

t.test('the gap limit: at most ELEVEO_HOLD_MAX_GAP_S between a stop and the next start', async (t) => {
  t.same(shape([couple('a1', '1001', 0, 5), couple('a2', '1001', 20, 25)]), ['1001:a1+a2'], 'exactly 15 minutes: joined')
  t.same(shape([couple('a1', '1001', 0, 5), couple('a2', '1001', 20.001, 25)]), ['1001:a1', '1001:a2'], 'a moment longer: apart')
  t.same(shape([couple('a1', '1001', 0, 5), couple('a2', '1001', 5, 9)], 0), ['1001:a1+a2'], 'limit 0 joins back-to-back parts only')
  t.same(shape([couple('a1', '1001', 0, 5), couple('a2', '1001', 5.5, 9)], 0), ['1001:a1', '1001:a2'])
})

t.test('what is never joined: an open couple, couples overlapping for real, couples without an agent', async (t) => {
  t.same(shape([couple('a1', '1001', 0, null), couple('a2', '1001', 3, 9)]), ['1001:a1', '1001:a2'], 'a couple still recording has no stop')
  t.same(shape([couple('a1', '1001', 0, 10), couple('a2', '1001', 5, 12)]), ['1001:a1', '1001:a2'], 'two recordings at once')
  t.same(shape([couple('a1', '1001', 0, 5), couple('a2', '1001', 4.99, 9)]), ['1001:a1+a2'], 'a start rounded just before the stop is still a continuation')
  t.same(shape([couple('x1', '', 0, 5), couple('x2', '', 6, 9)]), [':x1', ':x2'])
  t.same(mergeAdjacentCouples([], 'D1', GAP), [])
})

t.test('equal starts are ordered by sid, so the result does not depend on the database order', async (t) => {
  const a = [couple('s2', '1002', 0, 5), couple('s1', '1001', 0, 5), couple('s3', '1001', 6, 8)]
  t.same(shape(a), ['1001:s1', '1002:s2', '1001:s3'])
  t.same(shape([...a].reverse()), shape(a))
})
