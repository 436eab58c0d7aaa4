import { close as closeCallback, constants as fsConstants, existsSync, fstat as fstatCallback, open as openCallback } from 'node:fs'
import type { Stats } from 'node:fs'
import { lstat, realpath, stat } from 'node:fs/promises'
import { promisify } from 'node:util'
import { basename, isAbsolute, join, resolve, sep } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { errorCode, LegNotFoundError, UpstreamError, UpstreamUnavailableError } from '../../errors.js'
import { fileSystemError } from './fs-errors.js'

/** Only warnings are needed: every refusal is logged at warn with the value that was refused. */
export type RefusalLog = Pick<FastifyBaseLogger, 'warn'>

export interface OpenRecording {
  /**
   * A plain descriptor, not a FileHandle: a read stream on a FileHandle reads through fs/promises, a
   * promise per chunk that cost the EFSwitch relay ~15% more CPU than fs.read (bench: relay). The
   * caller owns it and must close it (closeFile), or hand it to a stream that does (autoClose).
   */
  readonly fd: number
  readonly size: number
}

const openFd = promisify(openCallback)
const fstat = promisify(fstatCallback)
/** Closes a descriptor from openFile. */
export const closeFile = promisify(closeCallback)

/** What a non-regular file is, for the log line that refuses it. */
function fileType(info: Stats): string {
  if (info.isFIFO()) return 'FIFO'
  if (info.isSocket()) return 'socket'
  if (info.isCharacterDevice()) return 'character device'
  if (info.isBlockDevice()) return 'block device'
  if (info.isDirectory()) return 'directory'
  return 'unknown'
}

/** Linux shows the path an open descriptor really refers to here; elsewhere the pre-open check must do. */
const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd' : null

/**
 * The directory tree the service may read recordings from. Every path that comes from outside (a
 * `record_path` row, a directory entry, a segment id) is resolved with symlinks followed and must land
 * inside the root's own real path; anything else is refused and logged, never read.
 */
export class RecordingsRoot {
  constructor(
    private readonly configured: string,
    private readonly log: RefusalLog
  ) {}

  /** The root with symlinks resolved, looked up per call so a remounted volume is picked up. */
  async realRoot(): Promise<string> {
    try {
      return await realpath(this.configured)
    } catch (err) {
      // A missing root is an outage of the recordings volume (an unmounted share), not a missing call.
      throw new UpstreamUnavailableError('efswitch', `recordings root is not accessible (${errorCode(err) ?? 'error'})`)
    }
  }

  static isInside(root: string, candidate: string): boolean {
    if (candidate === root) return true
    const prefix = root.endsWith(sep) ? root : root + sep
    return candidate.startsWith(prefix)
  }

  /**
   * The real directory a `record_path` names, or null when there is nothing to read: the directory
   * does not exist (yet), or the path is refused (outside the root, after `..` or symlinks).
   * A relative `record_path` is taken relative to the root.
   */
  async resolveDirectory(recordPath: string, dialogId: string): Promise<string | null> {
    const root = await this.realRoot()
    if (recordPath.includes('\0')) {
      this.refuse('record_path contains a NUL byte', { dialogId, recordPath })
      return null
    }
    const resolved = resolve(root, recordPath)
    // Checked before realpath as well, so a path outside the root is refused (and logged) even when it
    // does not exist: an attempt is worth knowing about whether or not it would have found anything.
    if (!RecordingsRoot.isInside(root, resolved) && !RecordingsRoot.isInside(resolve(this.configured), resolved)) {
      this.refuse('record_path is outside the recordings root', { dialogId, recordPath, resolved, root })
      return null
    }
    let real: string
    try {
      real = await realpath(resolved)
    } catch (err) {
      const code = errorCode(err)
      if (code === 'ENOENT' || code === 'ENOTDIR') return null
      throw new UpstreamError('efswitch', `cannot resolve the recordings directory (${code ?? 'error'})`)
    }
    if (!RecordingsRoot.isInside(root, real)) {
      this.refuse('record_path leads outside the recordings root through a symlink', { dialogId, recordPath, real, root })
      return null
    }
    return real
  }

  /**
   * The path of entry `name` of `dir` when it may be served: a regular file, or a symlink whose target
   * is a regular file inside the root (one leading outside is refused and logged). Null otherwise: gone
   * since the directory was listed, dangling, or not a file at all (a FIFO or device is refused and
   * logged too: opening one could block).
   */
  async acceptFile(dir: string, name: string): Promise<string | null> {
    const path = join(dir, name)
    let info
    try {
      info = await lstat(path)
    } catch {
      return null
    }
    if (info.isFile()) return path
    if (info.isSymbolicLink()) return (await this.followLink(path, await this.realRoot())) === null ? null : path
    if (!info.isDirectory()) this.refuse('recording entry is not a regular file', { path, type: fileType(info) })
    return null
  }

  private async followLink(path: string, root: string): Promise<string | null> {
    let real: string
    try {
      real = await realpath(path)
    } catch {
      return null
    }
    if (!RecordingsRoot.isInside(root, real)) {
      this.refuse('recording file is a symlink leading outside the recordings root', { path, real, root })
      return null
    }
    let info
    try {
      info = await stat(real)
    } catch {
      return null
    }
    if (info.isFile()) return real
    if (!info.isDirectory()) this.refuse('recording symlink leads to something that is not a regular file', { path, real, type: fileType(info) })
    return null
  }

  /**
   * Opens a recording by its segment id (an absolute path we handed out, but treated as untrusted:
   * ids can be forged or the tree can change between listing and reading). The caller owns the descriptor.
   */
  async openFile(id: string): Promise<OpenRecording> {
    const root = await this.realRoot()
    if (!isAbsolute(id) || id.includes('\0')) {
      this.refuse('segment id is not an absolute path', { segmentId: id })
      throw new LegNotFoundError('recording not found')
    }
    let real: string
    try {
      real = await realpath(id)
    } catch (err) {
      throw this.openError(err)
    }
    if (!RecordingsRoot.isInside(root, real)) {
      this.refuse('segment path is outside the recordings root', { segmentId: id, real, root })
      throw new LegNotFoundError('recording not found')
    }
    let fd: number
    try {
      // NOFOLLOW: the last component cannot have been swapped for a symlink since realpath looked.
      // NONBLOCK: a FIFO swapped in for the file would block this open (and a libuv worker with it)
      // until a writer came; for a regular file it changes nothing.
      fd = await openFd(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK)
    } catch (err) {
      if (errorCode(err) === 'ELOOP') this.refuse('recording file became a symlink after it was checked', { segmentId: id, real })
      throw this.openError(err)
    }
    try {
      if (PROC_FD !== null) {
        // A directory above could still have been swapped; the descriptor itself tells the truth.
        const opened = await realpath(`${PROC_FD}/${fd}`)
        if (!RecordingsRoot.isInside(root, opened)) {
          this.refuse('opened file is outside the recordings root', { segmentId: id, real: opened, root })
          throw new LegNotFoundError('recording not found')
        }
      }
      const info = await fstat(fd)
      if (!info.isFile()) {
        this.refuse('recording file is not a regular file', { segmentId: id, real, type: fileType(info) })
        throw new UpstreamError('efswitch', `recording file ${basename(real)} is not a regular file (${fileType(info)})`)
      }
      return { fd, size: info.size }
    } catch (err) {
      await closeFile(fd).catch(() => {})
      throw err
    }
  }

  private openError(err: unknown): Error {
    const code = errorCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') return new LegNotFoundError('recording file no longer exists')
    if (code === 'ELOOP') return new LegNotFoundError('recording not found')
    return fileSystemError('cannot open the recording file', err)
  }

  private refuse(reason: string, details: Record<string, string>): void {
    this.log.warn({ vendor: 'efswitch', refused: details }, `EFSwitch refused: ${reason}`)
  }
}
