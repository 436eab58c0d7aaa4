/*
 * The MP3 layout is read from small windows of a file (its start, its end), never from the whole of
 * it. A parser that finds the window too short says exactly which bytes it needs next, and from
 * where it can resume, so the caller can read them with one ranged request and call again.
 */

/** A window of a file: `bytes` are the file's bytes from `offset` on. */
export interface FileWindow {
  readonly offset: number
  readonly bytes: Buffer
}

/** File bytes [start, end) are needed to go on; parsing resumes at `resumeAt` (a tag or frame boundary). */
export class Mp3NeedBytes extends Error {
  override readonly name = 'Mp3NeedBytes'
  constructor(
    readonly start: number,
    readonly end: number,
    readonly resumeAt: number,
    what: string
  ) {
    super(`${what}: file bytes ${start}-${end - 1} are needed`)
  }
}

/**
 * The bytes [start, start + length) of the file as a view into `window`, or throws Mp3NeedBytes when
 * the window does not hold them. Callers only ask for bytes they know the file has.
 */
export function windowBytes(window: FileWindow, start: number, length: number, resumeAt: number, what: string): Buffer {
  const from = start - window.offset
  if (from < 0 || from + length > window.bytes.length) throw new Mp3NeedBytes(start, start + length, resumeAt, what)
  return window.bytes.subarray(from, from + length)
}
