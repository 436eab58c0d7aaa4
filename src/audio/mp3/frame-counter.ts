import { FRAME_HEADER_BYTES, Mp3ParseError, readFrameHeader } from './frame-header.js'
import { assertSameFormat, type Mp3Format } from './format.js'

/*
 * Counts the frames of a file whose own tag cannot say how many there are, reading the file through
 * once in whatever chunks it arrives in: only the 4 bytes of a header split across two chunks are
 * kept, so memory stays the same for a minute or a day of audio.
 */

export interface FrameCount {
  readonly frames: number
  /** The file offset just after the last whole frame. */
  readonly end: number
  /** The bitrate index every frame had, or null when it varied. */
  readonly bitrateIndex: number | null
}

export class Mp3FrameCounter {
  readonly #format: Mp3Format
  readonly #start: number
  readonly #end: number
  /** File offset of the next byte pushed. */
  #pos: number
  /** File offset of the next frame header. */
  #next: number
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES)
  #headerFill = 0
  /** Bytes of the current frame still to pass after its header. */
  #skip = 0
  #frames = 0
  #bitrateIndex: number | null | undefined = undefined
  /** Set once the rest of the range cannot hold another whole frame. */
  #done = false

  /** Counts the frames in file bytes [start, end): `end` is where the trailing tags begin. */
  constructor(format: Mp3Format, start: number, end: number) {
    this.#format = format
    this.#start = start
    this.#end = end
    this.#pos = start
    this.#next = start
    this.#checkDone()
  }

  /** True when no further byte can change the count: the caller may stop reading. */
  get done(): boolean {
    return this.#done
  }

  /** The next bytes of the file, in order from `start`. */
  push(chunk: Uint8Array): void {
    let i = 0
    while (i < chunk.length && !this.#done) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i)
        this.#skip -= n
        i += n
        this.#pos += n
        this.#checkDone()
        continue
      }
      const n = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - i)
      this.#header.set(chunk.subarray(i, i + n), this.#headerFill)
      this.#headerFill += n
      i += n
      this.#pos += n
      if (this.#headerFill === FRAME_HEADER_BYTES) this.#onHeader()
    }
  }

  /** The count, once every byte of the range (or enough to be `done`) has been pushed. */
  finish(): FrameCount {
    if (!this.#done) {
      throw new Mp3ParseError(`the file ended after ${this.#pos - this.#start} of the ${this.#end - this.#start} audio bytes expected from offset ${this.#start}`)
    }
    return { frames: this.#frames, end: this.#next, bitrateIndex: this.#bitrateIndex ?? null }
  }

  #onHeader(): void {
    const at = this.#next
    const header = readFrameHeader(this.#header, 0)
    if (typeof header === 'string') throw new Mp3ParseError(`no valid MPEG audio frame header at offset ${at} (frame ${this.#frames + 1}): ${header}`)
    assertSameFormat(this.#format, header, at)
    this.#headerFill = 0
    if (at + header.frameLength > this.#end) {
      // A last frame cut off by a recorder that stopped mid-write: it ends the audio.
      this.#done = true
      return
    }
    this.#frames++
    this.#bitrateIndex = this.#bitrateIndex === undefined || this.#bitrateIndex === header.bitrateIndex ? header.bitrateIndex : null
    this.#next = at + header.frameLength
    this.#skip = header.frameLength - FRAME_HEADER_BYTES
    this.#checkDone()
  }

  /** Done at a frame boundary where fewer bytes than a header are left (none, in a clean file). */
  #checkDone(): void {
    if (this.#skip === 0 && this.#headerFill === 0 && this.#next + FRAME_HEADER_BYTES > this.#end) this.#done = true
  }
}
