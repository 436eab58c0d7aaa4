import { UpstreamError, UpstreamUnavailableError } from '../../errors.js'

/** The errno name of a Node file-system error (`ENOENT`, `EMFILE`…), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** A file-system failure as a client sees it: out of descriptors is "try later" (503), anything else 502. */
export function fileSystemError(what: string, err: unknown): Error {
  const code = errnoCode(err) ?? 'error'
  if (code === 'EMFILE' || code === 'ENFILE') return new UpstreamUnavailableError('efswitch', `${what} (${code})`)
  return new UpstreamError('efswitch', `${what} (${code})`)
}
