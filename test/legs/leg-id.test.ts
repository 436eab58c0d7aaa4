import t from 'tap'
import { assertValidLegKey, formatLegId, parseLegId } from '../../src/legs/leg-id.js'

t.test('parses the four parts', async (t) => {
  t.same(parseLegId('d-1:1001:+41441234567:1764000000000'), { dialogId: 'd-1', agentExtension: '1001', ani: '+41441234567', startTime: 1764000000000 })
  t.same(parseLegId('d-1:1001::5'), { dialogId: 'd-1', agentExtension: '1001', ani: '', startTime: 5 }, 'anonymous caller: empty ani')
  t.same(parseLegId('a.b_c@x:*99#:sip-user@host:0'), { dialogId: 'a.b_c@x', agentExtension: '*99#', ani: 'sip-user@host', startTime: 0 })
})

t.test('URL-encoded colons are accepted, in either case', async (t) => {
  const expected = { dialogId: 'd', agentExtension: '1', ani: '2', startTime: 3 }
  t.same(parseLegId('d%3A1%3A2%3A3'), expected)
  t.same(parseLegId('d%3a1%3a2%3a3'), expected)
  t.same(parseLegId('d%3A1%3A2%3A3'.replace(/%3A/g, ':')), expected, 'what the router hands over after decoding')
})

t.test('a dialogId may be any SIP Call-ID: RFC 3261 word characters, word@word', async (t) => {
  for (const callId of [
    'a84b4c76e66710@pc33.example.com',
    'f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com',
    "3848276298220188511@atlanta.example.com",
    'x!y%z*_+`~(a)<b>[c]?{d}-e.f@host',
    '9C3A1B2D-7F6E-4A5B-8C9D-0E1F2A3B4C5D'
  ]) {
    t.same(parseLegId(`${callId}:1001:+41441234567:5`).dialogId, callId, callId)
  }
  t.same(parseLegId('x%3Ay@host:1:2:3').dialogId, 'x%3Ay@host', 'a literal %3A inside a legId that has its colons stays')
  t.same(parseLegId('x%253Ay%3A1%3A2%3A3').dialogId, 'x%3Ay', 'encoded twice: decoded once more, then taken literally')
})

t.test('round trip', async (t) => {
  const key = { dialogId: '7f0c2a4e-1111-2222-3333-444455556666', agentExtension: '1001', ani: '+1555', startTime: 1764000000123 }
  t.same(parseLegId(formatLegId(key)), key)
  t.equal(formatLegId({ ...key, startTime: 1.6 }), `${key.dialogId}:1001:+1555:2`, 'fractional times are rounded')
})

t.test('bad input is a 400 naming what is wrong', async (t) => {
  const cases: [string, RegExp][] = [
    ['', /got 1 part$/],
    ['d:1:2', /4 parts separated by ':'\), got 3 parts/],
    ['d:1:2:3:4', /got 5 parts/],
    ['d:1:2:', /legStartTime "" is not epoch milliseconds/],
    ['d:1:2:abc', /legStartTime "abc"/],
    ['d:1:2:-5', /legStartTime "-5"/],
    ['d:1:2:1e12', /legStartTime "1e12"/],
    ['d:1:2:1234567890123456', /legStartTime/],
    [':1:2:3', /dialogId is empty/],
    ['d::2:3', /agentExtension is empty/],
    ['..:1:2:3', /dialogId "\.\." contains "\.\."/],
    ['a..b:1:2:3', /contains "\.\."/],
    ['d/x:1:2:3', /dialogId "d\/x" contains characters other than/],
    ['d%2Fx%3A1%3A2%3A3', /dialogId "d\/x" contains characters/],
    ['d\\x:1:2:3', /dialogId "d\\\\x" contains characters other than/],
    ['d"x:1:2:3', /dialogId/],
    ["d'x:1:2:3", /dialogId/],
    ['d x:1:2:3', /dialogId "d x"/],
    ['d\u0007x:1:2:3', /dialogId/],
    ['d\u007fx:1:2:3', /dialogId/],
    ['d\u00e9x:1:2:3', /dialogId/],
    ['d!x:1!:2:3', /agentExtension "1!" contains characters other than letters, digits and _ \. \+ @ # \* -$/],
    ['d:1 0:2:3', /agentExtension "1 0"/],
    ['d:1:a\u0000b:3', /ani/],
    ['d%E0%A4%A%3A1%3A2%3A3', /not valid percent-encoding/],
    [`${'x'.repeat(129)}:1:2:3`, /dialogId is longer than 128 characters/]
  ]
  for (const [raw, says] of cases) {
    t.throws(() => parseLegId(raw), { statusCode: 400, code: 'GW_ERR_BAD_LEG_ID', message: says }, JSON.stringify(raw))
  }
  t.throws(() => assertValidLegKey({ dialogId: 'd', agentExtension: 'a:b', ani: '', startTime: 1 }), { code: 'GW_ERR_BAD_LEG_ID' })
  t.doesNotThrow(() => assertValidLegKey({ dialogId: 'd', agentExtension: '1', ani: '', startTime: 1 }))
})
