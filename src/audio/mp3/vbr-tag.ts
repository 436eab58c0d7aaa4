import {
  bitrateForIndex,
  FRAME_HEADER_BYTES,
  frameLengthFor,
  sideInfoLength,
  type ChannelMode,
  type Mp3FrameHeader
} from './frame-header.js'
import type { Mp3Format } from './format.js'

/*
 * The silent first frame encoders put before the audio to say how long the stream is: Xing (VBR) or
 * Info (CBR), as LAME writes them, or Fraunhofer's VBRI. Reading one tells where a file's audio frames
 * start and, when the file is as the encoder left it, how many there are; writing one gives the merged
 * leg a correct duration in players and a seek table.
 */

export type VbrTagKind = 'Xing' | 'Info' | 'VBRI'

export interface VbrTag {
  readonly kind: VbrTagKind
  /** Audio frames after the tag frame (LAME does not count the tag frame itself); null when absent. */
  readonly frames: number | null
  /** Bytes from the tag frame's first byte to the last audio byte (tags excluded); null when absent. */
  readonly bytes: number | null
}

const XING_FRAMES = 0x1
const XING_BYTES = 0x2
const XING_TOC = 0x4
const XING_TOC_BYTES = 100
/** VBRI sits at a fixed place: after the header and 32 bytes, whatever the channel mode. */
const VBRI_OFFSET = FRAME_HEADER_BYTES + 32

/** The Xing/Info/VBRI tag in `frame` (the whole first frame, header included), or null. */
export function readVbrTag(frame: Buffer, header: Mp3FrameHeader): VbrTag | null {
  if (header.layer === 3) {
    const plain = FRAME_HEADER_BYTES + sideInfoLength(header.version, header.channels)
    // LAME never writes a CRC into its tag frame, but other writers do: mpg123 looks after the CRC, ffmpeg does not.
    for (const at of header.crc ? [plain + 2, plain] : [plain]) {
      const tag = readXing(frame, at)
      if (tag) return tag
    }
  }
  if (frame.length >= VBRI_OFFSET + 18 && frame.toString('latin1', VBRI_OFFSET, VBRI_OFFSET + 4) === 'VBRI') {
    return { kind: 'VBRI', bytes: frame.readUInt32BE(VBRI_OFFSET + 10), frames: frame.readUInt32BE(VBRI_OFFSET + 14) }
  }
  return null
}

function readXing(frame: Buffer, at: number): VbrTag | null {
  if (at + 8 > frame.length) return null
  const id = frame.toString('latin1', at, at + 4)
  if (id !== 'Xing' && id !== 'Info') return null
  const flags = frame.readUInt32BE(at + 4)
  let pos = at + 8
  let frames: number | null = null
  let bytes: number | null = null
  if (flags & XING_FRAMES) {
    if (pos + 4 > frame.length) return null
    frames = frame.readUInt32BE(pos)
    pos += 4
  }
  if (flags & XING_BYTES) {
    if (pos + 4 > frame.length) return null
    bytes = frame.readUInt32BE(pos)
  }
  return { kind: id, frames, bytes }
}

/** What a tag frame for the merged stream looks like: everything but its counts. */
export interface InfoFrameShape {
  readonly format: Mp3Format
  readonly channelMode: ChannelMode
  readonly bitrateIndex: number
  readonly length: number
  /** Whether the frame has room for (and carries) the 100-byte seek table. */
  readonly withToc: boolean
}

/** Bytes a Xing/Info tag needs: header, side info, id, flags, frames, bytes, and the TOC when asked. */
function neededLength(format: Mp3Format, withToc: boolean): number {
  return FRAME_HEADER_BYTES + sideInfoLength(format.version, format.channels) + 4 + 4 + 4 + 4 + (withToc ? XING_TOC_BYTES : 0)
}

/**
 * The shape of the merged stream's tag frame: the leg's version, layer, sample rate and channel mode,
 * without CRC or padding. A CBR leg gets it at its own bitrate, without a seek table: ffmpeg seeks an
 * `Info` stream by arithmetic on the tag frame's bitrate, so that bitrate must be the stream's, and at
 * 8–16 kbit/s the frame has no room for a table (LAME leaves its tag out altogether there). A VBR leg
 * gets the seek table, at the lowest bitrate whose frame holds it.
 * Layer III only: the tag lives where Layer III keeps its side information.
 */
export function infoFrameShape(format: Mp3Format, channelMode: ChannelMode, cbrBitrateIndex: number | null): InfoFrameShape {
  if (format.layer !== 3) throw new RangeError(`a Xing/Info frame is a Layer III frame, not Layer ${format.layer}`)
  const lengthAt = (bitrateIndex: number): number | null => {
    const kbps = bitrateForIndex(format.version, format.layer, bitrateIndex)
    return kbps === undefined ? null : frameLengthFor(format.version, format.layer, kbps, format.sampleRate, false)
  }
  if (cbrBitrateIndex !== null) {
    const length = lengthAt(cbrBitrateIndex)
    if (length !== null && length >= neededLength(format, false)) return { format, channelMode, bitrateIndex: cbrBitrateIndex, length, withToc: false }
  }
  const needed = neededLength(format, true)
  for (let bitrateIndex = 1; bitrateIndex <= 14; bitrateIndex++) {
    const length = lengthAt(bitrateIndex)
    if (length !== null && length >= needed) return { format, channelMode, bitrateIndex, length, withToc: true }
  }
  // The highest bitrate of every version and rate gives frames of 400+ bytes, far above the 156 needed.
  throw new RangeError(`no bitrate gives a frame of ${needed} bytes for ${format.sampleRate} Hz`)
}

const VERSION_BITS: Readonly<Record<Mp3Format['version'], number>> = { '1': 3, '2': 2, '2.5': 0 }
const MODE_BITS: Readonly<Record<ChannelMode, number>> = { stereo: 0, 'joint stereo': 1, 'dual channel': 2, mono: 3 }
const SAMPLE_RATE_INDEX: Readonly<Record<number, number>> = {
  44100: 0, 48000: 1, 32000: 2, 22050: 0, 24000: 1, 16000: 2, 11025: 0, 12000: 1, 8000: 2
}

export interface InfoFrameCounts {
  /** `Xing` for VBR streams, `Info` for CBR ones (ffmpeg seeks the latter by arithmetic, not by TOC). */
  readonly kind: 'Xing' | 'Info'
  /** Audio frames after the tag frame. */
  readonly frames: number
  /** The whole stream, tag frame included. */
  readonly bytes: number
  /** 100 entries: where (in 1/256 of `bytes`) each percent of the playing time starts; only when the shape has room. */
  readonly toc: Uint8Array | null
}

/**
 * A silent Layer III frame carrying a Xing/Info tag. All side information is zero (no granule holds
 * any bits), so a decoder that does not know the tag plays it as one frame of silence.
 */
export function buildInfoFrame(shape: InfoFrameShape, counts: InfoFrameCounts): Buffer {
  if (shape.withToc !== (counts.toc !== null)) throw new RangeError(`this tag frame is shaped ${shape.withToc ? 'with' : 'without'} a seek table`)
  if (counts.toc !== null && counts.toc.length !== XING_TOC_BYTES) throw new RangeError(`a Xing TOC has ${XING_TOC_BYTES} entries, not ${counts.toc.length}`)
  if (counts.frames > 0xffffffff || counts.bytes > 0xffffffff) {
    throw new RangeError(`a Xing tag counts at most 2^32-1 frames and bytes (asked ${counts.frames} frames, ${counts.bytes} bytes)`)
  }
  const { format } = shape
  const frame = Buffer.alloc(shape.length)
  frame[0] = 0xff
  // Sync, version, layer III (01), protection bit 1: no CRC.
  frame[1] = 0xe0 | (VERSION_BITS[format.version] << 3) | (1 << 1) | 1
  frame[2] = (shape.bitrateIndex << 4) | ((SAMPLE_RATE_INDEX[format.sampleRate] ?? 0) << 2)
  frame[3] = MODE_BITS[shape.channelMode] << 6
  let pos = FRAME_HEADER_BYTES + sideInfoLength(format.version, format.channels)
  pos = frame.write(counts.kind, pos, 'latin1') + pos
  frame.writeUInt32BE(XING_FRAMES | XING_BYTES | (counts.toc === null ? 0 : XING_TOC), pos)
  frame.writeUInt32BE(counts.frames, pos + 4)
  frame.writeUInt32BE(counts.bytes, pos + 8)
  if (counts.toc !== null) frame.set(counts.toc, pos + 12)
  return frame
}
