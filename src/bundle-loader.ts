import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import vm from 'node:vm'

/*
 * `npm run build` also writes the whole service as one CommonJS file (dist/bundle/server.cjs, by
 * scripts/bundle.mjs) and V8's code cache for it. Started module by module from node_modules, the
 * service spent most of its 0.8 s start-up resolving ~400 modules (stat, realpath, package.json reads)
 * and compiling them; the bundle needs no resolution and, with the cache, little compilation. The file
 * is compiled through vm.Script because that is the API that takes and makes a code cache on Node 20.
 */

/** Whether V8 took the code cache: 'rejected' means another Node version or other V8 flags built it. */
export type CodeCacheState = 'used' | 'rejected' | 'absent'

export interface LoadedBundle<T> {
  readonly exports: T
  readonly codeCache: CodeCacheState
  /** V8's code cache for the bundle, holding every function compiled so far (the build writes it). */
  createCodeCache(): Buffer
}

/**
 * V8 flags the service sets for itself, before anything is loaded. The build sets them too before it
 * makes the code cache: V8 accepts a cache only under the flags it was made with.
 *
 * undici's HTTP parser (llhttp) is WebAssembly, compiled at the first upstream request: quickly by
 * Liftoff, then again by TurboFan on background threads, whose malloc arenas keep that memory after:
 * 10 of the idle process's 86 MB. Liftoff's code is enough: llhttp hands bodies over as spans, and the
 * relay's CPU per GB did not change (npm run bench -- relay). The flag is read when WebAssembly is
 * compiled, so setting it at run time takes effect.
 */
export function setProcessV8Flags(): void {
  setFlagsFromString('--liftoff-only')
}

export const codeCachePath = (bundle: string): string => `${bundle}.cache`

function readIfPresent(path: string): Buffer | undefined {
  try {
    return readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/**
 * The bundle is written as CommonJS's module wrapper around the code (scripts/bundle.mjs adds these), so
 * it is compiled as read, with no wrapped copy of a multi-megabyte source.
 */
export const MODULE_WRAPPER_START = '(function (exports, require, module, __filename, __dirname) {'
export const MODULE_WRAPPER_END = '})'

interface CommonJsModule {
  exports: unknown
}
type ModuleWrapper = (exports: unknown, require: NodeJS.Require, module: CommonJsModule, filename: string, dirname: string) => void

/** Runs a CommonJS bundle as Node's own loader would, with its code cache when one is beside it. */
export function loadBundle<T>(file: string): LoadedBundle<T> {
  // The build writes the bundle in ASCII (scripts/bundle.mjs): read as latin1 it is the same string,
  // made without UTF-8 decoding.
  const source = readFileSync(file, 'latin1')
  const cachedData = readIfPresent(codeCachePath(file))
  const script = new vm.Script(source, {
    filename: file,
    ...(cachedData === undefined ? {} : { cachedData }),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
  })
  const module: CommonJsModule = { exports: {} }
  const wrapper = script.runInThisContext() as ModuleWrapper
  wrapper(module.exports, createRequire(file), module, file, dirname(file))
  return {
    exports: module.exports as T,
    codeCache: cachedData === undefined ? 'absent' : script.cachedDataRejected === true ? 'rejected' : 'used',
    createCodeCache: () => script.createCachedData()
  }
}
