import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import errorsPlugin from '../plugins/errors.js'
import metricsPlugin from '../plugins/metrics.js'
import protectionPlugin from '../plugins/protection.js'
import corsPlugin from '../plugins/cors.js'
import linkAuthPlugin from '../plugins/link-auth.js'
import docsPlugin from '../plugins/docs.js'
import healthPlugin from '../plugins/health.js'
import healthRoutes from '../routes/health.js'
import metricsRoutes from '../routes/metrics.js'
import docsRoutes from '../routes/docs.js'
import providerPlugin from '../plugins/provider.js'
import recordingsRoutes from '../routes/recordings.js'
import statePlugin from '../plugins/state.js'
import schedulerPlugin from '../plugins/scheduler.js'
import adminRoutes from '../routes/admin.js'
import { redactAccessParams } from './auth/redact.js'
import { lazySerializers } from './http/lazy-serializers.js'
import { completionLoggedByRoute } from './http/completion-log.js'
import type { Config } from './config.js'
import type { RecordingProvider } from './providers/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface BuildAppOptions {
  config: Config
  /** A ready provider (tests, demo). Default: the one the config names, created and closed by the app. */
  provider?: RecordingProvider
  /** false silences logging; an object is merged into the pino options. Default: config.logLevel. */
  logger?: boolean | Record<string, unknown>
}

function loggerOptions(config: Config, logger: BuildAppOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === false) return false
  return {
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'password', '*.password'],
      censor: '[REDACTED]'
    },
    serializers: {
      req(req: { method: string; url: string; ip?: string; socket?: { remotePort?: number } }) {
        return { method: req.method, url: redactAccessParams(req.url), remoteAddress: req.ip, remotePort: req.socket?.remotePort }
      }
    },
    ...(typeof logger === 'object' ? logger : {})
  }
}

/** Fastify's request lines, except a successful 'request completed' where the route wrote its own closing line. */
class RouteAwareLogController extends LogController {
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error == null && completionLoggedByRoute(request)) return
    super.requestCompleted(error, request, reply, metadata)
  }
}

/** Fastify's types lack the hop-count form its runtime accepts; a function says the same. */
function trustProxyOption(v: Config['trustProxy']): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof v === 'number' ? (_address, hop) => hop < v : v
}

/**
 * The one place that wires the service together: every plugin and route, in order. Returns the app
 * ready (plugins loaded), not listening.
 */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = opts
  const app = Fastify({
    logger: loggerOptions(config, opts.logger),
    logController: new RouteAwareLogController(),
    schemaController: { compilersFactory: { buildSerializer: lazySerializers() } },
    // Only the request has to arrive within this; streaming a long recording out is not limited by it.
    requestTimeout: 30_000,
    // No route takes large bodies; admin calls are small JSON documents.
    bodyLimit: 1024 * 1024,
    // Leg IDs (four parts of up to 128 characters, colons possibly percent-encoded) exceed the default 100.
    routerOptions: { maxParamLength: 1024 },
    // Behind a load balancer the client IP (rate limits, logs) comes from X-Forwarded-For: TRUST_PROXY.
    trustProxy: trustProxyOption(config.trustProxy)
  })

  app.decorate('config', config)
  for (const warning of config.warnings) app.log.warn(warning)
  await app.register(errorsPlugin)
  await app.register(metricsPlugin)
  // These act on routes as they are registered (shedding, rate limits, CORS, signed links, route
  // catalogue), so they come before every route.
  await app.register(protectionPlugin)
  await app.register(corsPlugin)
  await app.register(linkAuthPlugin)
  await app.register(docsPlugin)
  await app.register(providerPlugin, opts.provider === undefined ? {} : { provider: opts.provider })
  await app.register(healthPlugin)
  await app.register(recordingsRoutes)
  await app.register(statePlugin)
  await app.register(schedulerPlugin)
  await app.register(adminRoutes)
  await app.register(healthRoutes)
  await app.register(metricsRoutes)
  await app.register(docsRoutes)

  await app.ready()
  return app
}
