import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'

/*
 * Fastify compiles a serializer for every response schema of every route as the route is added, and
 * fast-json-stringify first checks each schema against JSON Schema's own: 20 ms of every start-up
 * (bench: startup), for error bodies of statuses most processes never send. Each serializer is now
 * compiled the first time its route sends its status, by the same compiler with the same options.
 */

type SerializerFactory = ReturnType<typeof SerializerSelector>
type Serializer = ReturnType<ReturnType<SerializerFactory>>

export function lazySerializers(): SerializerFactory {
  const factory = SerializerSelector()
  return (externalSchemas, options) => {
    const compile = factory(externalSchemas, options)
    return (route) => {
      let serialize: Serializer | undefined
      return (doc) => (serialize ??= compile(route))(doc)
    }
  }
}
