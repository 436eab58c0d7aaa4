import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errorBodyOf, errorBodySchema, RETRY_AFTER_S, RouteNotFoundError } from '../src/errors.js'

/**
 * One error shape for every route (see errorBodyOf): 5xx are logged with the whole error and its
 * cause, 4xx as one line; a 503 tells the client when to retry.
 */
export default fp(
  async (app) => {
    app.addSchema(errorBodySchema)

    app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const body = errorBodyOf(err)
      const statusCode = body.statusCode
      if (statusCode >= 500) request.log.error({ err }, 'request failed')
      else request.log.info({ err: { code: err.code, message: err.message } }, 'request rejected')
      if (statusCode === 503) void reply.header('retry-after', String(RETRY_AFTER_S))
      return reply.code(statusCode).type('application/json; charset=utf-8').send(body)
    })

    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send(errorBodyOf(new RouteNotFoundError(request.method, request.url.split('?')[0] ?? '')))
    )
  },
  { name: 'errors' }
)
