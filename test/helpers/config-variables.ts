import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

/**
 * Every environment variable src/config.ts reads, found the way a reader finds them: its `str`, `int`,
 * `oneOf` and `url` calls on `env`. Documentation and deployment files are checked against this list.
 */
export async function configVariables(): Promise<Set<string>> {
  const source = await readFile(fileURLToPath(new URL('../../src/config.ts', import.meta.url)), 'utf8')
  return new Set([...source.matchAll(/\b(?:str|int|oneOf|url)\(env, '([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!))
}
