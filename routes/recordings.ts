import { performance } from 'node:perf_hooks'
import type { FastifyPluginAsync } from 'fastify'
import type { VirtualFileReadable } from '../src/audio/virtual-file.js'
import { ClientClosedError, RangeNotSatisfiableError, TooManyStreamsError } from '../src/errors.js'
import { markCompletionLogged } from '../src/http/completion-log.js'
import { onSendStall } from '../src/http/send-timeout.js'
import { contentRange, ifRangeAllows, parseRange, unsatisfiedContentRange, type RangeRequest } from '../src/http/range.js'
import { formatLegId, parseLegId } from '../src/legs/leg-id.js'

/**
 * Recordings do not change once written, but links are access-controlled: browsers may keep a copy,
 * shared caches may not.
 */
const CACHE_CONTROL = 'private, max-age=300'

const errorRef = { $ref: 'ErrorBody#' } as const

export const recordingSchema = {
  summary: 'Stream the recording of one CX leg as a single WAV or MP3 file',
  description:
    'Finds the vendor leg closest in start time to legStartTime (same agentExtension preferred on a tie), ' +
    'merges HOLD-split parts into one file, and streams it: WAV (audio/wav) when the stored parts are WAV, MP3 (audio/mpeg) ' +
    'when they are MP3. Supports single byte ranges (several ranges are coalesced into one spanning range). HEAD returns the ' +
    'same headers, reading only the start of each WAV segment (its header, 4 KiB to 1 MiB); for MP3 segments also their ' +
    'last bytes (trailing tags) and, when a part has no Info frame to count its frames, the whole part once (then cached).',
  params: {
    type: 'object',
    required: ['legId'],
    properties: {
      legId: {
        type: 'string',
        minLength: 1,
        maxLength: 1024,
        description: 'dialogId:agentExtension:ani:legStartTime (epoch ms); colons may be percent-encoded'
      }
    }
  },
  headers: {
    type: 'object',
    properties: {
      range: { type: 'string', description: 'bytes=first-last, bytes=first- or bytes=-suffix' },
      'if-range': { type: 'string', description: 'An ETag; the Range applies only if it still matches' }
    }
  },
  response: {
    200: { description: 'The whole recording (audio/wav or audio/mpeg)', type: 'string', format: 'binary' },
    206: { description: 'The requested byte range of the recording (audio/wav or audio/mpeg)', type: 'string', format: 'binary' },
    400: errorRef,
    404: errorRef,
    416: errorRef,
    502: errorRef,
    503: errorRef,
    504: errorRef
  }
} as const

interface RecordingRoute {
  Params: { legId: string }
  Headers: { range?: string; 'if-range'?: string }
}

const recordingsRoutes: FastifyPluginAsync = async (app) => {
  const { maxConcurrentStreams, sendTimeoutMs } = app.config.retrieval
  // Recording requests between their start and their response's close (look-ups included).
  let streams = 0
  app.route<RecordingRoute>({
    // HEAD is declared, not derived: Fastify's automatic HEAD would run the GET path and open the audio.
    method: ['GET', 'HEAD'],
    url: '/recordings/:legId',
    schema: recordingSchema,
    // ?sig= is checked by plugins/link-auth.ts before the handler runs (401 missing, 403 wrong).
    // CORS_ORIGINS may fetch it from another origin (plugins/cors.ts).
    config: { signedLink: true, crossOrigin: true },
    handler: async (request, reply) => {
      const started = performance.now()
      const key = parseLegId(request.params.legId)
      if (streams >= maxConcurrentStreams) {
        throw new TooManyStreamsError(`${maxConcurrentStreams} recordings (MAX_CONCURRENT_STREAMS) are being served already; retry later`)
      }
      streams++
      reply.raw.once('close', () => streams--)
      // Canonical form (colons decoded): only validated characters, safe in a header and a log line.
      const legId = formatLegId(key)

      // Aborts every upstream call for this request, including look-ups before the body starts.
      const abort = new AbortController()
      let served = false
      // 'recording served' or 'recording not served' below says what Fastify's 'request completed' would.
      markCompletionLogged(request)
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) abort.abort(new ClientClosedError())
        // Refusals (no such leg, upstream failure, 416) get their line too, with the same fields.
        if (!served) {
          request.log.info(
            { legId, vendor: app.provider.name, segments: 0, status: reply.raw.statusCode, bytes: 0, complete: false, durationMs: Math.round(performance.now() - started) },
            'recording not served'
          )
        }
      })

      const rec = await app.recordings.resolve(key, abort.signal)
      const size = rec.file.size
      let wanted: RangeRequest = parseRange(request.headers.range, size)
      if (wanted.kind !== 'full' && !ifRangeAllows(request.headers['if-range'], rec.etag)) wanted = { kind: 'full' }

      void reply
        .header('accept-ranges', 'bytes')
        .header('etag', rec.etag)
        .header('cache-control', CACHE_CONTROL)
      if (wanted.kind === 'unsatisfiable') {
        void reply.header('content-range', unsatisfiedContentRange(size))
        throw new RangeNotSatisfiableError(JSON.stringify(request.headers.range), size)
      }

      const range = wanted.kind === 'partial' ? wanted.range : { start: 0, end: size - 1 }
      const length = range.end - range.start + 1
      void reply
        .code(wanted.kind === 'partial' ? 206 : 200)
        .header('content-type', rec.contentType)
        .header('content-length', String(length))
        .header('content-disposition', `inline; filename="${legId.replace(/:/g, '_')}.${rec.extension}"`)
      if (wanted.kind === 'partial') void reply.header('content-range', contentRange(range, size))

      let body: VirtualFileReadable | null = null
      served = true
      reply.raw.once('close', () => {
        // The stream asks for its first segment as soon as it is made: whatever became of the reply,
        // it and its upstream request end with the response (after a complete response it has ended already).
        if (body !== null && !body.destroyed) body.destroy()
        // Counted by the stream itself: a 'data' listener here would be a second call on every chunk.
        const sent = body?.bytesOut ?? 0
        if (sent > 0) app.metrics.bytesStreamed.inc({ vendor: app.provider.name }, sent)
        request.log.info(
          {
            legId,
            vendor: app.provider.name,
            segments: rec.leg.segments.length,
            status: reply.statusCode,
            range: wanted.kind === 'partial' ? `${range.start}-${range.end}` : undefined,
            bytes: request.method === 'HEAD' ? 0 : sent,
            complete: request.method === 'HEAD' || sent === length,
            durationMs: Math.round(performance.now() - started)
          },
          'recording served'
        )
      })

      if (request.method === 'HEAD') return reply.send()
      const stream = app.recordings.stream(rec, range, abort.signal)
      body = stream
      if (sendTimeoutMs > 0) {
        onSendStall(reply.raw, sendTimeoutMs, () => {
          request.log.warn({ legId, bytes: stream.bytesOut, sendTimeoutMs }, 'client stopped reading: response cut (SEND_TIMEOUT_MS)')
          reply.raw.destroy()
        })
      }
      return reply.send(stream)
    }
  })
}

export default recordingsRoutes
