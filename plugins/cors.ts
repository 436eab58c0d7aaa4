import cors from '@fastify/cors'
import type { RouteOptions } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route may be fetched from the origins in CORS_ORIGINS (a browser player on CX's agent desk). */
    crossOrigin?: boolean
    /** @fastify/cors's per-route switch (its types do not declare it); set by this plugin only. */
    cors?: false
  }
}

/**
 * What a player on another origin needs to read from a recording answer: where a 206 sits in the file,
 * that seeking is possible, the size, and the ETag to send back as If-Range.
 */
const EXPOSED_HEADERS = ['Content-Range', 'Accept-Ranges', 'Content-Length', 'ETag']
/** Not CORS-safelisted request headers (Range is not, whatever its value): they need a preflight. */
const ALLOWED_HEADERS = ['Range', 'If-Range']
/** Preflight answers may be reused this long (browsers cap it at 2 h, Chromium at 10 min). */
const PREFLIGHT_MAX_AGE_S = 600

/**
 * Cross-origin access to the recording routes (`config: { crossOrigin: true }`) for the origins in
 * CORS_ORIGINS; nothing at all when it is empty. `<audio src>` needs no CORS, but a player that fetches
 * (waveforms, downloads) does, and a fetch with `Range` is preflighted.
 *
 * @fastify/cors hooks every route of the instance it is registered on and answers OPTIONS through a
 * catch-all route; here it is narrowed to the routes that opt in: every other route (its own catch-all
 * included) gets its `cors: false`, and each opted-in route gets an OPTIONS twin on its own path, whose
 * preflights the plugin's onRequest hook answers (204) after load shedding and the rate limit but before
 * the link signature is checked: a preflight reveals nothing, and the request it announces is checked.
 * Register after plugins/protection.ts and before the routes.
 */
export default fp(
  async (app) => {
    const origins = app.config.corsOrigins
    if (origins.length === 0) return

    app.addHook('onRoute', function (route: RouteOptions) {
      if (route.config?.crossOrigin !== true) {
        route.config = { ...route.config, cors: false }
        return
      }
      const methods = [route.method].flat()
      if (methods.includes('OPTIONS')) return
      this.route({
        method: 'OPTIONS',
        url: route.url,
        // Not an operation of the API (browsers send it by themselves): kept out of openapi.yaml.
        schema: { hide: true },
        config: { crossOrigin: true },
        // Reached only by an OPTIONS the hook did not answer; the route has no other meaning.
        handler: (_request, reply) => reply.callNotFound()
      })
    })

    await app.register(cors, {
      origin: origins.length === 1 && origins[0] === '*' ? '*' : origins,
      methods: ['GET', 'HEAD'],
      allowedHeaders: ALLOWED_HEADERS,
      exposedHeaders: EXPOSED_HEADERS,
      maxAge: PREFLIGHT_MAX_AGE_S,
      // Links carry their signature in the URL; cookies and HTTP authentication are never needed.
      credentials: false,
      // An OPTIONS that is not a preflight (no Origin) gets the same 204 rather than a text/plain 400.
      strictPreflight: false
    })
  },
  { name: 'cors' }
)
