import { execFile } from 'node:child_process'
import * as realFs from 'node:fs/promises'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'

const run = promisify(execFile)

/*
 * A state directory on a disk that can fill up. As root, a real tmpfs of `bytes` mounted for the test
 * (the kernel says ENOSPC); where mounting is refused (or CXGW_TEST_SIMULATE_ENOSPC=1), the same
 * directory on the ordinary disk with a quota enforced where the state store meets the file system:
 * `node:fs/promises` as the gateway's modules import it, loaded through `load()`. Either way a write
 * that does not fit fails with ENOSPC and the test asserts the same things.
 */
export interface SmallDisk {
  readonly dir: string
  readonly kind: 'tmpfs' | 'simulated'
  /** Imports a module (a file: URL; the push rig) so that its state files go through this disk. */
  load<T>(specifier: string): Promise<T>
  /** Fills the disk to the last byte. */
  fill(): Promise<void>
  /** Frees space: the disk grows to 16 MiB and the filler goes. */
  free(): Promise<void>
}

const FILLER = 'zz-filler'

export async function smallDisk(t: Test, bytes: number): Promise<SmallDisk> {
  const dir = await mkdtemp(join(tmpdir(), 'cxgw-small-disk-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  if (process.env.CXGW_TEST_SIMULATE_ENOSPC !== '1' && (await tryMount(dir, bytes))) {
    t.teardown(() => run('umount', ['-l', dir]))
    return {
      dir,
      kind: 'tmpfs',
      load: (specifier) => import(specifier),
      async fill() {
        // One write of more than the disk holds leaves it full to the last block.
        await writeFile(join(dir, FILLER), Buffer.alloc(bytes)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOSPC') throw err
        })
      },
      async free() {
        await rm(join(dir, FILLER), { force: true })
        await run('mount', ['-o', 'remount,size=16m', dir])
      }
    }
  }
  const quota = { bytes }
  return {
    dir,
    kind: 'simulated',
    load: (specifier) => t.mockImport(specifier, { 'node:fs/promises': quotaFs(dir, quota) }),
    async fill() {
      quota.bytes = await used(dir)
    },
    async free() {
      quota.bytes = 16 * 1024 * 1024
    }
  }
}

async function tryMount(dir: string, bytes: number): Promise<boolean> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir])
    return true
  } catch {
    return false
  }
}

async function used(dir: string): Promise<number> {
  let total = 0
  for (const name of await readdir(dir)) total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size
  return total
}

function enospc(syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${syscall}`), { code: 'ENOSPC', errno: -28, syscall, path })
}

/**
 * node:fs/promises with a quota on one directory: a write that would take the directory's files past
 * `quota.bytes` fails with ENOSPC, as the kernel's would (the bytes already in the files stay).
 */
function quotaFs(dir: string, quota: { bytes: number }): typeof realFs {
  const root = resolve(dir) + sep
  const inside = (path: unknown): boolean => typeof path === 'string' && resolve(path).startsWith(root)
  const fits = async (path: string, adding: number): Promise<void> => {
    if ((await used(dir)) + adding > quota.bytes) throw enospc('write', path)
  }
  const open: typeof realFs.open = async (path, flags, mode) => {
    const fh = await realFs.open(path, flags, mode)
    if (!inside(path)) return fh
    const file = path as string
    return new Proxy(fh, {
      get(target, prop, receiver) {
        if (prop === 'write') {
          return async (data: Buffer | string, ...rest: unknown[]) => {
            await fits(file, typeof data === 'string' ? Buffer.byteLength(data) : data.length)
            return (target.write as (...a: unknown[]) => unknown)(data, ...rest)
          }
        }
        if (prop === 'writeFile') {
          return async (data: string | Buffer, options?: unknown) => {
            await fits(file, typeof data === 'string' ? Buffer.byteLength(data) : data.length)
            return target.writeFile(data, options as undefined)
          }
        }
        const value: unknown = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      }
    })
  }
  const writeFileQuota: typeof realFs.writeFile = async (path, data, options) => {
    if (inside(path)) await fits(path as string, typeof data === 'string' ? Buffer.byteLength(data) : Buffer.byteLength(data as Buffer))
    return realFs.writeFile(path, data, options)
  }
  return { ...realFs, open, writeFile: writeFileQuota, default: { ...realFs, open, writeFile: writeFileQuota } } as typeof realFs
}
