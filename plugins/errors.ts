import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** How long a client should wait before retrying a 503 (upstream or this service overloaded). */
export const RETRY_AFTER_S = 5

/** What every error response looks like. */
export interface ErrorBody {
  statusCode: number
  code?: string
  error: string
  message: string
}

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' }
  }
} as const

function statusOf(err: FastifyError): number {
  if (err.validation !== undefined) return 400
  const s = err.statusCode
  return typeof s === 'number' && s >= 400 && s <= 599 ? s : 500
}

/**
 * One error shape for every route: `{ statusCode, code, error, message }`. Messages of our own named
 * errors (and Fastify's 4xx) are written for clients; anything else is a bug whose message may expose
 * internals, so the client gets a generic 500 and the log gets the whole error with its cause.
 */
export default fp(
  async (app) => {
    app.addSchema(errorBodySchema)

    app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const statusCode = statusOf(err)
      const known = statusCode < 500 || (typeof err.code === 'string' && err.code.startsWith('GW_ERR_'))
      if (statusCode >= 500) request.log.error({ err }, 'request failed')
      else request.log.info({ err: { code: err.code, message: err.message } }, 'request rejected')
      if (statusCode === 503) void reply.header('retry-after', String(RETRY_AFTER_S))
      const body: ErrorBody = {
        statusCode,
        error: STATUS_CODES[statusCode] ?? 'Error',
        message: known ? err.message : 'An unexpected error occurred; it has been logged.'
      }
      if (typeof err.code === 'string' && known) body.code = err.code
      return reply.code(statusCode).type('application/json; charset=utf-8').send(body)
    })

    app.setNotFoundHandler((request, reply) => {
      const body: ErrorBody = {
        statusCode: 404,
        code: 'GW_ERR_ROUTE_NOT_FOUND',
        error: 'Not Found',
        message: `Route ${request.method} ${request.url.split('?')[0] ?? ''} not found`
      }
      return reply.code(404).send(body)
    })
  },
  { name: 'errors' }
)
