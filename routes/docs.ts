import type { FastifyPluginAsync } from 'fastify'

/** The OpenAPI document (plugins/docs.ts) as JSON and as YAML. Not rate limited. */
const docsRoutes: FastifyPluginAsync = async (app) => {
  const config = { rateLimit: false } as const
  app.get('/openapi.json', { config }, async () => app.openapi.document)
  app.get('/openapi.yaml', { config }, async (_request, reply) =>
    reply.type('application/yaml; charset=utf-8').send(await app.openapi.yaml())
  )
}

export default docsRoutes
