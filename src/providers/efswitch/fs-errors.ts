import { errorCode, UpstreamError, UpstreamUnavailableError } from '../../errors.js'

/** A file-system failure as a client sees it: out of descriptors is "try later" (503), anything else 502. */
export function fileSystemError(what: string, err: unknown): Error {
  const code = errorCode(err) ?? 'error'
  if (code === 'EMFILE' || code === 'ENFILE') return new UpstreamUnavailableError('efswitch', `${what} (${code})`)
  return new UpstreamError('efswitch', `${what} (${code})`)
}
