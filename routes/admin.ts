import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { requireBearer } from '../src/auth/bearer.js'
import {
  BadBackfillError,
  errorBodyOf,
  NoPushRunError,
  PushDisabledError,
  PushLockUnavailableError,
  PushNotLeaderError,
  PushRunInProgressError,
  RETRY_AFTER_S
} from '../src/errors.js'
import { RunInProgressError } from '../src/jobs/push-runner.js'

/**
 * A backfill is read as windows of PUSH_MAX_WINDOW_S, one after the other, in the one run slot. More
 * than this many is a slip (start 0, a wrong year), not a plan: it would keep scheduled runs out for
 * days, and its window list alone could exhaust the heap.
 */
export const MAX_BACKFILL_WINDOWS = 10_000

const errorRef = { $ref: 'ErrorBody#' } as const

const timeValue = {
  anyOf: [
    { type: 'string', minLength: 1, description: 'ISO 8601 date-time' },
    { type: 'integer', minimum: 0, description: 'epoch milliseconds' }
  ]
} as const

const windowSchema = {
  type: 'object',
  required: ['start', 'end'],
  properties: { start: { type: 'string', format: 'date-time' }, end: { type: 'string', format: 'date-time' } }
} as const

export const pushRunReportSchema = {
  $id: 'PushRunReport',
  type: 'object',
  required: ['id', 'instance', 'trigger', 'windows', 'status', 'startedAt', 'durationMs'],
  properties: {
    id: { type: 'string' },
    instance: { type: 'string', description: 'INSTANCE_ID of the gateway that ran it' },
    trigger: { type: 'string', enum: ['schedule', 'manual', 'backfill'] },
    windows: { type: 'array', items: windowSchema },
    windowsDone: { type: 'integer', description: 'Windows handled completely so far (progress out of windows)' },
    calls: { type: 'integer', description: 'Calls looked up in the vendor' },
    legs: { type: 'integer', description: 'CX legs considered' },
    matched: { type: 'integer', description: 'CX legs paired with a vendor recording' },
    pushed: { type: 'integer', description: 'Links CX accepted in this run' },
    alreadyPushed: { type: 'integer', description: 'Legs skipped: already accepted (or failed for good) before' },
    pending: { type: 'integer', description: 'Legs left for a later run' },
    failed: { type: 'integer', description: 'Legs recorded as failed in this run (4xx from CX, unusable CX data)' },
    droppedPending: { type: 'integer', description: 'Pending legs given up after PENDING_MAX_AGE_S' },
    status: { type: 'string', enum: ['running', 'ok', 'failed'] },
    error: { type: ['string', 'null'] },
    startedAt: { type: 'string', format: 'date-time' },
    durationMs: { type: 'integer', description: 'So far, while running' }
  }
} as const

const conflictBody = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
    runId: { type: 'string', description: 'The run under way' }
  }
} as const

export const startRunSchema = {
  summary: 'Start a push run now (or a backfill of a past window)',
  description:
    'Without a body: a run like a scheduled one (from the cursor to now - PROCESSING_DELAY_S, plus pending retries). ' +
    'With {start, end}: a backfill of that window (split into PUSH_MAX_WINDOW_S pieces); the cursor is not moved, and ' +
    'legs CX accepted or refused (4xx) within the last PENDING_MAX_AGE_S are not pushed again (the ledger forgets older ones, ' +
    'which a backfill pushes again). end defaults to now. A backfill spans at most ' +
    `${MAX_BACKFILL_WINDOWS} windows (400 otherwise). Answers at once; follow the run with ` +
    'GET /admin/push-runs/latest. With several instances (STATE_DATABASE_URL) only the holder of the push lock runs: ' +
    '409 GW_ERR_PUSH_NOT_LEADER when another instance is running the push job, 503 when the state database cannot be asked.',
  tags: ['admin'],
  security: [{ adminToken: [] }],
  body: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: { start: timeValue, end: timeValue }
  },
  response: {
    202: {
      type: 'object',
      required: ['id', 'trigger', 'status'],
      properties: { id: { type: 'string' }, trigger: { type: 'string' }, status: { type: 'string' } }
    },
    400: errorRef,
    401: errorRef,
    409: conflictBody,
    503: errorRef
  }
} as const

export const latestRunSchema = {
  summary: 'The current push run (live counters), else the last finished one',
  tags: ['admin'],
  security: [{ adminToken: [] }],
  response: { 200: { $ref: 'PushRunReport#' }, 401: errorRef, 404: errorRef, 409: conflictBody }
} as const

interface StartRunBody {
  start?: string | number
  end?: string | number
}

function badRequest(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(400).send(errorBodyOf(new BadBackfillError(message)))
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** Date.parse rolls impossible days over (2026-02-30 becomes 2 March): a backfill must not silently start elsewhere. */
function isCalendarDate(iso: string): boolean {
  const y = Number(iso.slice(0, 4))
  const m = Number(iso.slice(5, 7))
  const d = Number(iso.slice(8, 10))
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
  return days !== undefined && d >= 1 && d <= days
}

/** Epoch ms from an ISO 8601 string or epoch milliseconds (as a number or digits); null for anything else. */
function toEpochMs(v: string | number): number | null {
  const ms =
    typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : ISO_8601.test(v) && isCalendarDate(v) ? Date.parse(v) : NaN
  return Number.isFinite(ms) ? ms : null
}

/**
 * Operator routes for the push job. They exist only when ADMIN_TOKEN is set (otherwise every path
 * answers 404, as for any unknown route) and require `Authorization: Bearer <ADMIN_TOKEN>`.
 */
const adminRoutes: FastifyPluginAsync = async (app) => {
  const token = app.config.adminToken
  if (token === null) return
  app.addSchema(pushRunReportSchema)

  app.addHook(
    'onRequest',
    requireBearer(token, 'cx-recording-gateway admin', {
      missing: 'An Authorization: Bearer <ADMIN_TOKEN> header is required',
      invalid: 'The admin token is not valid'
    })
  )

  const disabled = errorBodyOf(new PushDisabledError())

  app.post<{ Body: StartRunBody | undefined }>(
    '/admin/push-runs',
    {
      schema: startRunSchema,
      // Before schema validation, which would silently drop unknown keys: a typo such as {"begin": ...}
      // must not turn an intended backfill into a normal run.
      preValidation: async (request, reply) => {
        const body: unknown = request.body
        if (body === undefined || body === null) return
        if (typeof body !== 'object' || Array.isArray(body)) return badRequest(reply, 'the body must be a JSON object {start?, end?}')
        const unknown = Object.keys(body).filter((k) => k !== 'start' && k !== 'end')
        if (unknown.length > 0) return badRequest(reply, `unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}: only start and end are accepted`)
      }
    },
    async (request, reply) => {
      const runner = app.pushRunner
      if (!runner) return reply.code(409).send(disabled)
      const body = request.body ?? {}
      let range: { start: number; end: number } | undefined
      if (body.start !== undefined || body.end !== undefined) {
        if (body.start === undefined) return badRequest(reply, 'a backfill needs start (end defaults to now)')
        const now = Date.now()
        const start = toEpochMs(body.start)
        const end = body.end === undefined ? now : toEpochMs(body.end)
        if (start === null) return badRequest(reply, `start ${JSON.stringify(body.start)} is neither an ISO date-time nor epoch milliseconds`)
        if (end === null) return badRequest(reply, `end ${JSON.stringify(body.end)} is neither an ISO date-time nor epoch milliseconds`)
        if (start >= end) return badRequest(reply, 'start must be before end')
        if (end > now) return badRequest(reply, 'end must not be in the future')
        const windowS = app.config.push.maxWindowS
        const windows = Math.ceil((end - start) / (windowS * 1000))
        if (windows > MAX_BACKFILL_WINDOWS) {
          return badRequest(
            reply,
            `a backfill covers at most ${MAX_BACKFILL_WINDOWS} windows of PUSH_MAX_WINDOW_S (${windowS} s); this one needs ${windows}: ask for a shorter range, or several`
          )
        }
        range = { start, end }
      }
      try {
        const run = range ? runner.start('backfill', range) : runner.start('manual')
        // Several instances: only the holder of the push lock runs; answer once that is decided.
        const lease = await run.lease
        if (lease === 'elsewhere') {
          return reply.code(409).send(errorBodyOf(new PushNotLeaderError()))
        }
        if (lease === 'failed') {
          const report = await run.done
          return reply
            .code(503)
            .header('retry-after', String(RETRY_AFTER_S))
            .send(errorBodyOf(new PushLockUnavailableError(report?.error ?? 'the push lock could not be taken')))
        }
        return reply.code(202).header('location', '/admin/push-runs/latest').send({ id: run.id, trigger: run.trigger, status: 'running' })
      } catch (err) {
        if (!(err instanceof RunInProgressError)) throw err
        return reply.code(409).send({ ...errorBodyOf(new PushRunInProgressError(err.runId)), runId: err.runId })
      }
    }
  )

  app.get(
    '/admin/push-runs/latest',
    { schema: latestRunSchema },
    async (_request, reply) => {
      const runner = app.pushRunner
      if (!runner) return reply.code(409).send(disabled)
      const report = await runner.latest()
      if (report === null) {
        return reply.code(404).send(errorBodyOf(new NoPushRunError()))
      }
      return report
    }
  )
}

export default adminRoutes
