import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import fp from 'fastify-plugin'

export interface RouteEntry {
  readonly method: string
  /** Fastify's form: `/recordings/:legId`. */
  readonly url: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after the docs plugin, one entry per method (HEAD twins of GET routes included). */
    routeCatalog: readonly RouteEntry[]
    /** The OpenAPI document, parsed once at start-up. */
    openapi: OpenApiDocs
  }
  interface FastifySchema {
    /** Not an operation of the API (the CORS preflight twins): left out of the route catalogue. */
    hide?: boolean
  }
}

/**
 * openapi.yaml sits one level above plugins/: at the repository root when running from source, and in
 * dist/ when built (the build copies it there, so the output mirrors the source).
 */
export function findSpecification(): string {
  const path = fileURLToPath(new URL('../openapi.yaml', import.meta.url))
  if (!existsSync(path)) throw new Error(`openapi.yaml not found at ${path} (npm run build copies it into dist/)`)
  return path
}

/** `/recordings/{legId}` → `/recordings/:legId`. */
export function fastifyPath(openapiPath: string): string {
  return openapiPath.replace(/\{([^}]+)\}/g, ':$1')
}

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'] as const

/** Method and Fastify path of every operation a document describes. */
export function documentedRoutes(doc: unknown): RouteEntry[] {
  const paths = (doc as { paths?: Record<string, Record<string, unknown>> }).paths ?? {}
  const out: RouteEntry[] = []
  for (const [path, item] of Object.entries(paths)) {
    for (const m of METHODS) if (item[m] !== undefined) out.push({ method: m.toUpperCase(), url: fastifyPath(path) })
  }
  return out
}

/** The OpenAPI document as served: the parsed openapi.yaml with `servers` set to PUBLIC_BASE_URL. */
export interface OpenApiDocs {
  readonly document: Record<string, unknown>
  /** The same document as YAML (made on first use). */
  yaml(): Promise<string>
}

/**
 * The parsed openapi.yaml. `npm run build` writes it as JSON beside the YAML (dist/openapi.json):
 * parsing 27 kB of YAML at start-up took about a sixth of the gateway's start-up CPU (bench: profile),
 * JSON.parse takes a millisecond. Run from source (tests, tsx) there is no JSON, and the YAML is
 * parsed, with the yaml package loaded only then.
 */
export async function loadSpecification(): Promise<Record<string, unknown>> {
  const built = fileURLToPath(new URL('../openapi.json', import.meta.url))
  if (existsSync(built)) return JSON.parse(await readFile(built, 'utf8')) as Record<string, unknown>
  const { parse } = await import('yaml')
  return parse(await readFile(findSpecification(), 'utf8')) as Record<string, unknown>
}

/**
 * The hand-written openapi.yaml (the document is the contract, not a by-product of route schemas),
 * served by routes/docs.ts with `servers` set to PUBLIC_BASE_URL. Read here rather than through
 * @fastify/swagger's static mode, which parses the YAML and loads the yaml package at every start-up.
 * Also keeps a catalogue of the routes registered after it and warns at start-up about any route the
 * document does not describe, so drift shows up in the first run, not in a client's bug report.
 * Register before the routes.
 */
export default fp(
  async (app) => {
    const document = { ...(await loadSpecification()), servers: [{ url: app.config.publicBaseUrl }] }
    let yaml: Promise<string> | null = null
    app.decorate('openapi', {
      document,
      yaml: () => (yaml ??= import('yaml').then(({ stringify }) => stringify(document, { strict: false })))
    })

    const catalog: RouteEntry[] = []
    app.decorate('routeCatalog', catalog)
    app.addHook('onRoute', (route) => {
      // Hidden routes are not operations of the API: the CORS preflight twins (plugins/cors.ts).
      if (route.schema?.hide === true) return
      for (const method of [route.method].flat()) catalog.push({ method, url: route.url })
    })

    app.addHook('onReady', async () => {
      const documented = new Set(documentedRoutes(document).map((r) => `${r.method} ${r.url}`))
      for (const r of catalog) {
        const covered = documented.has(`${r.method} ${r.url}`) || (r.method === 'HEAD' && documented.has(`GET ${r.url}`))
        if (!covered) app.log.warn({ method: r.method, url: r.url }, 'route is not described in openapi.yaml')
      }
    })
  },
  { name: 'docs' }
)
