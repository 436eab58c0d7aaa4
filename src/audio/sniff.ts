import { readFrameHeader } from './mp3/frame-header.js'

/*
 * A leg's format follows its stored files, not configuration: the first bytes say which it is. An
 * unknown start is reported as such so the caller can name it in a 502.
 */

export type AudioContainer = 'wav' | 'mp3'

/** Bytes enough to tell: `RIFF....WAVE`, or `ID3` + version, or a 4-byte frame header. */
export const SNIFF_BYTES = 12

export function sniffContainer(head: Uint8Array): AudioContainer | null {
  const magic = Buffer.from(head.subarray(0, 4)).toString('latin1')
  if (magic === 'RIFF' || magic === 'RF64' || magic === 'BW64') return 'wav'
  if (magic.startsWith('ID3')) return 'mp3'
  return typeof readFrameHeader(head, 0) === 'string' ? null : 'mp3'
}
