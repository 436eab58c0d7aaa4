import { Mp3ParseError } from './frame-header.js'
import { Mp3FrameCounter } from './frame-counter.js'
import { layoutFromTag, readMp3Start, type Mp3Layout } from './layout.js'
import { Mp3NeedBytes, type FileWindow } from './need-bytes.js'
import { findTrailingTags } from './tags.js'

/*
 * The layout of one stored MP3 file, read through three narrow seams: its first bytes (already read
 * to tell its format), ranged reads of small windows (tags, the first frame, the tail), and, only when
 * the file's own Xing/Info tag cannot give the frame count, one streaming pass over its frames.
 */

export interface Mp3Source {
  /** Total bytes of the stored file. */
  readonly size: number
  /** Its first bytes: the whole file when shorter than what was read. */
  readonly head: Buffer
  /** File bytes [start, end), exactly: a ranged request of at most MAX_PROBE_WINDOW_BYTES. */
  readBytes(start: number, end: number): Promise<Buffer>
  /** File bytes [start, end) as they arrive; the counting pass may stop early (return from the loop). */
  streamBytes(start: number, end: number): AsyncIterable<Uint8Array>
}

/** The end of a file is read in one request this long: ID3v1 (128), an APEv2 footer (32) and an ID3v2 footer (10) fit. */
export const TAIL_PROBE_BYTES = 256
/** No window read to find tags or the first frame is longer: bounds memory and what a broken file costs. */
export const MAX_PROBE_WINDOW_BYTES = 1024 * 1024
/** Smallest read when more bytes are needed; each further one is at least twice the one before. */
const MIN_PROBE_WINDOW_BYTES = 4096

export async function probeMp3Layout(src: Mp3Source): Promise<Mp3Layout> {
  const { size } = src
  const head: FileWindow = { offset: 0, bytes: src.head.subarray(0, Math.min(src.head.length, size)) }
  const start = await parseWithReads(src, head, (window, from) => readMp3Start(window, size, from ?? 0), 'forward')

  const tail: FileWindow = head.bytes.length >= size ? head : await readWindow(src, Math.max(start.audioOffset, size - TAIL_PROBE_BYTES), size)
  const audioEnd = await parseWithReads(src, tail, (window, from) => findTrailingTags(window, size, start.audioOffset, from), 'backward')

  const fromTag = layoutFromTag(start, audioEnd)
  if (fromTag !== null) return fromTag

  const counter = new Mp3FrameCounter(start.format, start.audioOffset, audioEnd)
  // A short file is already whole in the head: counted there, with no further request.
  if (head.bytes.length >= audioEnd) counter.push(head.bytes.subarray(start.audioOffset, audioEnd))
  if (!counter.done) {
    for await (const chunk of src.streamBytes(start.audioOffset, audioEnd)) {
      counter.push(chunk)
      if (counter.done) break
    }
  }
  const count = counter.finish()
  return {
    format: start.format,
    channelMode: start.channelMode,
    audioOffset: start.audioOffset,
    audioLength: count.end - start.audioOffset,
    frameCount: count.frames,
    bitrateIndex: count.bitrateIndex,
    counted: true
  }
}

/**
 * Calls `parse` on `window`, reading a further window whenever it asks for bytes it does not hold:
 * `forward` windows start where parsing resumes (tags and frames are read from the start on),
 * `backward` ones end there (trailing tags are read from the end back).
 */
async function parseWithReads<T>(
  src: Mp3Source,
  first: FileWindow,
  parse: (window: FileWindow, resumeAt: number | undefined) => T,
  direction: 'forward' | 'backward'
): Promise<T> {
  let window = first
  let resumeAt: number | undefined
  for (;;) {
    try {
      return parse(window, resumeAt)
    } catch (err) {
      if (!(err instanceof Mp3NeedBytes)) throw err
      const grow = Math.max(MIN_PROBE_WINDOW_BYTES, 2 * window.bytes.length)
      const [from, to] =
        direction === 'forward'
          ? [err.resumeAt, Math.min(src.size, Math.max(err.end, err.resumeAt + grow))]
          : [Math.max(0, Math.min(err.start, err.resumeAt - grow)), err.resumeAt]
      if (to - from > MAX_PROBE_WINDOW_BYTES) {
        throw new Mp3ParseError(`${err.message}, beyond the ${MAX_PROBE_WINDOW_BYTES} bytes read at most to find an MP3's tags and first frame`)
      }
      if (from === window.offset && to === window.offset + window.bytes.length) {
        // The parser asked for bytes the window already holds: a bug, not a reason to read forever.
        throw new Error(`MP3 probe: ${err.message} but the window ${from}-${to - 1} holds them`)
      }
      window = await readWindow(src, from, to)
      resumeAt = err.resumeAt
    }
  }
}

async function readWindow(src: Mp3Source, start: number, end: number): Promise<FileWindow> {
  const bytes = await src.readBytes(start, end)
  if (bytes.length !== end - start) {
    throw new Mp3ParseError(`reading file bytes ${start}-${end - 1} gave ${bytes.length} bytes instead of ${end - start}`)
  }
  return { offset: start, bytes }
}

