import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadBundle, setProcessV8Flags } from './bundle-loader.js'
import type * as Service from './serve.js'

/*
 * Process entry (`node dist/src/server.js`, `npm start`, the container's entry point). A production build
 * has the service bundled beside this file (dist/bundle/server.cjs, with its code cache): that starts in
 * a fraction of the time loading the modules one by one takes. A source run (`tsx src/server.ts`, the
 * tests) has no bundle and loads the modules.
 */

const BUNDLE = fileURLToPath(new URL('../bundle/server.cjs', import.meta.url))

setProcessV8Flags()

async function start(): Promise<void> {
  if (existsSync(BUNDLE)) {
    const bundle = loadBundle<typeof Service>(BUNDLE)
    return bundle.exports.serve(bundle.codeCache)
  }
  const service = await import('./serve.js')
  return service.serve('modules')
}

start().catch((err: unknown) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
