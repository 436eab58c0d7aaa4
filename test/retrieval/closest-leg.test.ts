import t from 'tap'
import { chooseClosestLeg } from '../../src/retrieval/closest-leg.js'
import type { VendorLeg } from '../../src/recording.js'

function leg(id: string, agentExtension: string, start: number, ani = '555'): VendorLeg {
  return { dialogId: 'd', agentExtension, ani, start, end: null, segments: [{ id }] }
}

const key = (agentExtension: string, startTime: number, ani = '555') => ({ dialogId: 'd', agentExtension, ani, startTime })
const id = (l: VendorLeg | undefined): string | undefined => l?.segments[0]?.id

t.test('the nearest start wins, before or after', async (t) => {
  const legs = [leg('a', '1', 1000), leg('b', '1', 5000), leg('c', '1', 9000)]
  t.equal(id(chooseClosestLeg(legs, key('1', 5600))), 'b')
  t.equal(id(chooseClosestLeg(legs, key('1', 8000))), 'c')
  t.equal(id(chooseClosestLeg(legs, key('1', -50))), 'a')
  t.equal(id(chooseClosestLeg(legs, key('2', 9100))), 'c', "another agent's leg when it is nearer")
})

t.test('equal distances: the same agent extension wins, then the first listed', async (t) => {
  const legs = [leg('other', '2', 0), leg('mine', '1', 2000)]
  t.equal(id(chooseClosestLeg(legs, key('1', 1000))), 'mine')
  t.equal(id(chooseClosestLeg(legs, key('2', 1000))), 'other')
  t.equal(id(chooseClosestLeg(legs, key('3', 1000))), 'other', 'neither agent: the first listed')
  t.equal(id(chooseClosestLeg([leg('x', '1', 0), leg('y', '1', 2000)], key('1', 1000))), 'x')
})

t.test('requireSameIdentity: only the same agent and ANI are candidates', async (t) => {
  const legs = [leg('near', '2', 1000), leg('far', '1', 100_000), leg('far-other-ani', '1', 1000, '999')]
  t.equal(id(chooseClosestLeg(legs, key('1', 1000), true)), 'far')
  t.equal(chooseClosestLeg(legs, key('3', 1000), true), undefined)
  t.equal(chooseClosestLeg([], key('1', 0)), undefined, 'no legs, no choice')
})
