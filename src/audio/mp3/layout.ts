import { FRAME_HEADER_BYTES, Mp3ParseError, readFrameHeader, type ChannelMode, type Mp3FrameHeader } from './frame-header.js'
import { assertSameFormat, formatOf, sameMp3Format, type Mp3Format } from './format.js'
import { windowBytes, type FileWindow } from './need-bytes.js'
import { skipLeadingId3v2 } from './tags.js'
import { readVbrTag, type VbrTag } from './vbr-tag.js'

/*
 * Where the audio frames of one stored MP3 file are, and how many there are: what the merged stream
 * needs of each segment. Found from the file's first bytes (tags, first frame, its Xing/Info/VBRI tag)
 * and its last bytes (trailing tags); the frame count comes from the file's own tag when that tag
 * still describes the file, else from one counting pass over the frames (src/audio/mp3/frame-counter.ts).
 */

export interface Mp3Layout {
  readonly format: Mp3Format
  /** The first frame's channel mode, for the merged stream's tag frame. */
  readonly channelMode: ChannelMode
  /** The first audio byte: after the ID3v2 tags and the Xing/Info/VBRI frame. */
  readonly audioOffset: number
  /** Bytes of whole audio frames, without trailing tags or a cut-off last frame. */
  readonly audioLength: number
  /** Audio frames, tag frame not included. */
  readonly frameCount: number
  /** The bitrate index of every audio frame (CBR), or null when it varies (VBR). */
  readonly bitrateIndex: number | null
  /** True when frameCount was counted frame by frame (the file had no tag to trust). */
  readonly counted: boolean
}

/** The start of a file, as far as the first audio frame. */
export interface Mp3Start {
  readonly format: Mp3Format
  readonly channelMode: ChannelMode
  /** The first frame: a tag frame when `tag` is not null, else the first audio frame. */
  readonly firstFrameOffset: number
  readonly tag: VbrTag | null
  readonly audioOffset: number
  /** The first audio frame's header; null when the file has no audio frame after its tag frame. */
  readonly firstAudioHeader: Mp3FrameHeader | null
}

/**
 * How far past the ID3v2 tags a file may hold bytes that are not frames (zero padding some taggers
 * leave outside the tag, a damaged first frame) before it is taken for something other than MP3.
 */
export const MAX_JUNK_BEFORE_FIRST_FRAME = 64 * 1024

/**
 * The start of a `fileSize`-byte file from a window of it, beginning the search at `from`. Throws
 * Mp3NeedBytes when the window ends too early, Mp3ParseError when the file is not MPEG audio.
 */
export function readMp3Start(window: FileWindow, fileSize: number, from = 0): Mp3Start {
  const afterTags = skipLeadingId3v2(window, fileSize, from)
  const { offset: firstFrameOffset, header } = findFirstFrame(window, fileSize, afterTags)
  const frame = windowBytes(window, firstFrameOffset, Math.min(header.frameLength, fileSize - firstFrameOffset), firstFrameOffset, 'the first frame')
  const tag = readVbrTag(frame, header)
  const audioOffset = tag === null ? firstFrameOffset : Math.min(fileSize, firstFrameOffset + header.frameLength)
  let firstAudioHeader: Mp3FrameHeader | null = header
  if (tag !== null) {
    firstAudioHeader = null
    // Not a header here is not yet an error: a file without audio frames has its trailing tags here.
    if (audioOffset + FRAME_HEADER_BYTES <= fileSize) {
      const h = readFrameHeader(windowBytes(window, audioOffset, FRAME_HEADER_BYTES, firstFrameOffset, 'the first audio frame header'), 0)
      if (typeof h !== 'string') firstAudioHeader = h
    }
  }
  if (firstAudioHeader !== null) assertSameFormat(formatOf(header), firstAudioHeader, audioOffset)
  return { format: formatOf(header), channelMode: header.channelMode, firstFrameOffset, tag, audioOffset, firstAudioHeader }
}

/**
 * The first frame at or after `from`. A header right where the tags end is taken as it is; one found
 * further on must be followed by another header of the same format (or by the end of the file), as
 * decoders require before they trust a sync found by searching: audio bytes often look like a header.
 */
function findFirstFrame(window: FileWindow, fileSize: number, from: number): { offset: number; header: Mp3FrameHeader } {
  const limit = Math.min(fileSize - FRAME_HEADER_BYTES, from + MAX_JUNK_BEFORE_FIRST_FRAME)
  let firstRefusal: string | null = null
  for (let offset = from; offset <= limit; offset++) {
    const header = readFrameHeader(windowBytes(window, offset, FRAME_HEADER_BYTES, from, 'a frame header'), 0)
    if (typeof header === 'string') {
      firstRefusal ??= header
      continue
    }
    if (offset === from) return { offset, header }
    const next = offset + header.frameLength
    if (next === fileSize) return { offset, header }
    if (next + FRAME_HEADER_BYTES > fileSize) continue
    const following = readFrameHeader(windowBytes(window, next, FRAME_HEADER_BYTES, from, 'the header confirming a frame sync'), 0)
    if (typeof following !== 'string' && sameMp3Format(formatOf(header), formatOf(following))) return { offset, header }
  }
  const searched = Math.max(0, limit - from + 1)
  throw new Mp3ParseError(
    `no MPEG audio frame ${from > 0 ? `after the ID3v2 tags (offset ${from}) ` : ''}within ${searched} bytes` +
      (firstRefusal === null ? '' : `; at offset ${from}: ${firstRefusal}`)
  )
}

/**
 * The layout from the file's own tag, when that tag still describes the file: a Xing/Info tag counts
 * the bytes from its frame to the last audio frame, so a file cut short, appended to, or re-tagged
 * wrongly shows up as a different byte count. Null when the frames must be counted instead (no tag,
 * a VBRI tag whose counts writers fill in differently, or counts that do not match).
 */
export function layoutFromTag(start: Mp3Start, audioEnd: number): Mp3Layout | null {
  const { tag } = start
  if (tag === null || tag.kind === 'VBRI' || tag.frames === null || tag.bytes === null) return null
  if (tag.bytes !== audioEnd - start.firstFrameOffset) return null
  const audioLength = audioEnd - start.audioOffset
  if ((tag.frames === 0) !== (audioLength === 0)) return null
  // Frames promised but no frame where they should start: counting will say what is there instead.
  if (tag.frames > 0 && start.firstAudioHeader === null) return null
  return {
    format: start.format,
    channelMode: start.channelMode,
    audioOffset: start.audioOffset,
    audioLength,
    frameCount: tag.frames,
    // LAME writes `Info` for constant bitrate and `Xing` for everything else.
    bitrateIndex: tag.kind === 'Info' && start.firstAudioHeader !== null ? start.firstAudioHeader.bitrateIndex : null,
    counted: false
  }
}
