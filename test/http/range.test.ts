import t from 'tap'
import { contentRange, ifRangeAllows, parseContentRange, parseRange, unsatisfiedContentRange } from '../../src/http/range.js'

t.test('parseRange: the three single-range forms', async (t) => {
  t.same(parseRange('bytes=0-99', 1000), { kind: 'partial', range: { start: 0, end: 99 } })
  t.same(parseRange('bytes=500-', 1000), { kind: 'partial', range: { start: 500, end: 999 } })
  t.same(parseRange('bytes=-100', 1000), { kind: 'partial', range: { start: 900, end: 999 } })
  t.same(parseRange('bytes=-5000', 1000), { kind: 'partial', range: { start: 0, end: 999 } }, 'suffix beyond the size: everything')
  t.same(parseRange('bytes=990-5000', 1000), { kind: 'partial', range: { start: 990, end: 999 } }, 'end clamped')
  t.same(parseRange('bytes=999-999', 1000), { kind: 'partial', range: { start: 999, end: 999 } })
  t.same(parseRange('BYTES = 1-2', 1000), { kind: 'partial', range: { start: 1, end: 2 } }, 'unit is case-insensitive')
  t.same(parseRange('bytes=0-99999999999999999999', 1000), { kind: 'partial', range: { start: 0, end: 999 } }, 'huge end clamped')
})

t.test('parseRange: several ranges are coalesced into their span', async (t) => {
  t.same(parseRange('bytes=0-9, 20-29', 1000), { kind: 'partial', range: { start: 0, end: 29 } })
  t.same(parseRange('bytes=500-599,-10', 1000), { kind: 'partial', range: { start: 500, end: 999 } })
  t.same(parseRange('bytes=2000-3000, 5-6', 1000), { kind: 'partial', range: { start: 5, end: 6 } }, 'unsatisfiable parts are dropped')
  t.same(parseRange('bytes=0-1,,4-5', 1000), { kind: 'partial', range: { start: 0, end: 5 } }, 'empty list elements are allowed')
})

t.test('parseRange: unsatisfiable', async (t) => {
  for (const h of ['bytes=1000-', 'bytes=1000-2000', 'bytes=-0', 'bytes=99999999999999999999-', 'bytes=1000-1001, 2000-']) {
    t.same(parseRange(h, 1000), { kind: 'unsatisfiable' }, h)
  }
})

t.test('parseRange: absent, other units and malformed headers are ignored (200)', async (t) => {
  for (const h of [undefined, '', 'bytes', 'bytes=', 'items=0-1', 'bytes=a-b', 'bytes=5-1', 'bytes=1-2-3', 'bytes=--1', 'bytes=0-1,x', 'bytes 0-1', 'bytes=,']) {
    t.same(parseRange(h, 1000), { kind: 'full' }, JSON.stringify(h))
  }
})

t.test('ifRangeAllows: strong comparison with the current ETag only', async (t) => {
  t.equal(ifRangeAllows(undefined, '"a"'), true)
  t.equal(ifRangeAllows('"a"', '"a"'), true)
  t.equal(ifRangeAllows(' "a" ', '"a"'), true)
  t.equal(ifRangeAllows('"b"', '"a"'), false)
  t.equal(ifRangeAllows('W/"a"', '"a"'), false, 'weak tags never match')
  t.equal(ifRangeAllows('Tue, 03 Mar 2026 10:00:00 GMT', '"a"'), false, 'dates never match: we send no Last-Modified')
})

t.test('Content-Range formatting and parsing', async (t) => {
  t.equal(contentRange({ start: 0, end: 9 }, 100), 'bytes 0-9/100')
  t.equal(unsatisfiedContentRange(100), 'bytes */100')
  t.same(parseContentRange('bytes 0-9/100'), { start: 0, end: 9, size: 100 })
  t.same(parseContentRange('bytes 0-9/*'), { start: 0, end: 9, size: null })
  t.same(parseContentRange('bytes */100'), { start: null, end: null, size: 100 })
  for (const bad of [undefined, '', 'bytes 9-0/100', 'bytes 0-100/100', 'bytes */*', 'items 0-1/2', 'bytes 0-1']) {
    t.equal(parseContentRange(bad), null, JSON.stringify(bad))
  }
})
