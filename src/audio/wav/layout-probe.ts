import { parseWavLayout, WavHeaderIncompleteError, WavParseError, type WavLayout } from './riff.js'

/*
 * How much of a stored file is read to find its RIFF layout. Nearly every recorder writes fewer than
 * 100 bytes before `data`, so the first read is small; files carrying metadata (a LIST/INFO, bext or
 * JUNK chunk of any size) before `data` are read again with a longer prefix. The cap bounds the memory
 * one segment's probe can take and the bytes a hostile or broken file can make us download.
 */

/** The first read of every segment. */
export const FIRST_HEAD_PROBE_BYTES = 4 * 1024
/** Each further read is at least this many times longer than the one before (fewer round trips). */
export const HEAD_PROBE_GROWTH = 8
/** Chunks before `data` reaching past this many bytes make the file unreadable for us. */
export const MAX_HEAD_PROBE_BYTES = 1024 * 1024

/** A file's total size and its first bytes: `bytes` of them, or the whole file when it is shorter. */
export type ReadHead = (bytes: number) => Promise<{ readonly size: number; readonly head: Buffer }>

/**
 * The layout of one file, reading prefixes of growing length until the parser has every chunk up to
 * the `data` chunk's header. Throws WavParseError for a broken file and for a header beyond the cap;
 * errors of `readHead` (upstream failures, aborts) pass through.
 */
export async function probeWavLayout(readHead: ReadHead): Promise<WavLayout> {
  let asked = FIRST_HEAD_PROBE_BYTES
  for (;;) {
    const { size, head } = await readHead(asked)
    try {
      return parseWavLayout(head, size)
    } catch (err) {
      if (!(err instanceof WavHeaderIncompleteError)) throw err
      // A read shorter than asked would be asked again and again to no avail.
      if (head.length < Math.min(asked, size)) {
        throw new WavParseError(`${err.message}; only ${head.length} of the ${asked} bytes asked for were read`, { cause: err })
      }
      if (err.needBytes > MAX_HEAD_PROBE_BYTES) {
        throw new WavParseError(
          `the WAV header (chunks before the audio data) is larger than the ${MAX_HEAD_PROBE_BYTES / 1024 / 1024} MiB (${MAX_HEAD_PROBE_BYTES} bytes) read at most to find it: ${err.message}`,
          { cause: err }
        )
      }
      asked = Math.min(MAX_HEAD_PROBE_BYTES, Math.max(asked * HEAD_PROBE_GROWTH, err.needBytes))
    }
  }
}
