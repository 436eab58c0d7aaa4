// The production bundle (run by `npm run build`, after tsc): the service as one CommonJS file,
// dist/bundle/server.cjs, and V8's code cache for it, dist/bundle/server.cjs.cache; src/server.ts
// loads them when present (see src/bundle-loader.ts for why). The cache is made after a warm-up
// (serve.ts warmUp: the app built with the default configuration), so it holds the functions start-up
// compiles. Identifiers and lines are kept as written: stack traces in logs stay readable.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

const outfile = `${root}dist/bundle/server.cjs`

const { loadBundle, codeCachePath, setProcessV8Flags, MODULE_WRAPPER_START, MODULE_WRAPPER_END } = await import(`${root}dist/src/bundle-loader.js`)
setProcessV8Flags()

/** `undici` imported by the gateway's sources resolves to the subset it uses (scripts/undici-subset.cjs). */
const undiciSubset = {
  name: 'undici-subset',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: `${root}scripts/undici-subset.cjs` }))
  }
}

const output = await build({
  entryPoints: [`${root}src/serve.ts`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // plugins/docs.ts finds dist/openapi.json relative to itself; from dist/bundle/ that is the same path.
  define: { 'import.meta.url': '__bundle_url' },
  // The file is one function expression, CommonJS's module wrapper, so that src/bundle-loader.ts compiles
  // it as read: no second multi-megabyte copy of the source in the heap for the wrapping.
  // esbuild's own "use strict" comes after the banner, where it is no directive: this one is.
  banner: { js: `${MODULE_WRAPPER_START}'use strict'; const __bundle_url = require('node:url').pathToFileURL(__filename).href;` },
  footer: { js: MODULE_WRAPPER_END },
  write: false,
  // Only for a source run without dist/openapi.json: a dev dependency, never needed in production.
  external: ['yaml'],
  plugins: [undiciSubset],
  logLevel: 'warning'
})

// esbuild escapes non-ASCII characters in code but keeps them in the comments it keeps; one of them makes
// V8 hold the whole source as a two-byte string, twice the memory for as long as the process runs.
await mkdir(dirname(outfile), { recursive: true })
// eslint-disable-next-line no-control-regex -- the class is "everything outside ASCII", written from \x00
await writeFile(outfile, output.outputFiles[0].text.replace(/[^\x00-\x7f]/g, '?'))

const bundle = loadBundle(outfile)
await bundle.exports.warmUp()
await writeFile(codeCachePath(outfile), bundle.createCodeCache())
// The warm-up's app is closed, but undici's idle sockets and timers need not keep the build waiting.
process.exit(0)
