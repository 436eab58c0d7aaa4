import t from 'tap'
import { matchLegs } from '../../src/legs/match.js'
import type { VendorLeg } from '../../src/recording.js'

function vendor(id: string, agentExtension: string, start: number, ani = '555'): VendorLeg {
  return { dialogId: 'd', agentExtension, ani, start, end: null, segments: [{ id }] }
}
const cx = (name: string, agentExtension: string, start: number, ani = '555') => ({ name, agentExtension, ani, start })
const ids = (m: ReturnType<typeof matchLegs<ReturnType<typeof cx>>>): [string, string | null][] =>
  m.map((p) => [p.cx.name, p.vendor?.segments[0]?.id ?? null])

const loose = { toleranceMs: 5000, requireSameIdentity: false }

t.test('each CX leg gets the nearest vendor leg, each vendor leg is used once', async (t) => {
  const m = matchLegs([cx('x', '1', 0), cx('y', '2', 60_000)], [vendor('B', '2', 61_000), vendor('A', '1', 500)], loose)
  t.same(ids(m), [['x', 'A'], ['y', 'B']], 'in the order of the CX legs')
  const twice = matchLegs([cx('x', '1', 0), cx('y', '1', 100)], [vendor('A', '1', 50)], loose)
  t.same(ids(twice), [['x', 'A'], ['y', null]], 'one vendor leg cannot serve two CX legs; equal distances go to the earlier CX leg')
})

t.test('same agent beats a nearer leg of another agent', async (t) => {
  const m = matchLegs([cx('x', '1', 0)], [vendor('other', '2', 10), vendor('mine', '1', 3000)], loose)
  t.same(ids(m), [['x', 'mine']])
})

t.test('tolerance bounds the distance; Infinity lifts it', async (t) => {
  t.same(ids(matchLegs([cx('x', '1', 0)], [vendor('A', '1', 5001)], loose)), [['x', null]])
  t.same(ids(matchLegs([cx('x', '1', 0)], [vendor('A', '1', 5000)], loose)), [['x', 'A']], 'inclusive')
  t.same(ids(matchLegs([cx('x', '1', 0)], [vendor('A', '1', 1e9)], { toleranceMs: Infinity, requireSameIdentity: false })), [['x', 'A']])
})

t.test('requireSameIdentity pairs only the same agent and ANI', async (t) => {
  const strict = { toleranceMs: Infinity, requireSameIdentity: true }
  const m = matchLegs([cx('x', '1', 0, '555'), cx('y', '1', 0, '777')], [vendor('A', '1', 10, '777'), vendor('B', '2', 0, '555')], strict)
  t.same(ids(m), [['x', null], ['y', 'A']])
  t.same(matchLegs([], [vendor('A', '1', 0)], strict), [])
})
