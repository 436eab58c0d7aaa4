import Fastify from 'fastify'
import t from 'tap'
import { lazySerializers } from '../../src/http/lazy-serializers.js'

const route = (schema: unknown): { method: string; url: string; httpStatus: string; schema: unknown } => ({ method: 'GET', url: '/x', httpStatus: '200', schema })

t.test('a serializer is compiled at its first use, not when the route is added', async (t) => {
  const compile = lazySerializers()(undefined, {})
  // An invalid schema is the visible sign of compilation: fast-json-stringify refuses it when it compiles.
  const serialize = compile(route({ type: 'object', properties: { a: { type: 'no-such-type' } } }))
  t.pass('adding the route compiled nothing')
  t.throws(() => serialize({ a: 1 }), /schema is invalid/, 'the first use compiles (and reports the bad schema)')
})

t.test('once compiled it serializes as Fastify would: by the schema, unknown properties left out', async (t) => {
  const compile = lazySerializers()(undefined, {})
  const serialize = compile(route({ type: 'object', properties: { a: { type: 'string' }, n: { type: 'integer' } } }))
  t.equal(serialize({ a: 'x', n: 2, secret: 'not in the schema' }), '{"a":"x","n":2}')
  t.equal(serialize({ a: 'y', n: 3 }), '{"a":"y","n":3}', 'and again, from the compiled function')
})

t.test('through Fastify: response schemas still shape the bodies', async (t) => {
  const app = Fastify({ schemaController: { compilersFactory: { buildSerializer: lazySerializers() } } })
  t.teardown(() => app.close())
  app.get('/thing', { schema: { response: { 200: { type: 'object', properties: { id: { type: 'string' } } } } } }, async () => ({ id: 'a', password: 'hunter2' }))
  const res = await app.inject('/thing')
  t.equal(res.statusCode, 200)
  t.equal(res.body, '{"id":"a"}', 'the property outside the schema is not sent')
})
