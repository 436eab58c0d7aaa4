import { Mp3ParseError, roman, type Mp3FrameHeader, type MpegLayer, type MpegVersion } from './frame-header.js'

/**
 * What must be equal for the frames of two files to follow each other in one stream. The bitrate may
 * change from frame to frame (VBR), and so may the stereo coding (joint or not): decoders take both
 * from each frame's header. Version, layer, sample rate and channel count they take from the first.
 */
export interface Mp3Format {
  readonly version: MpegVersion
  readonly layer: MpegLayer
  readonly sampleRate: number
  readonly channels: 1 | 2
}

export function formatOf(h: Mp3FrameHeader): Mp3Format {
  return { version: h.version, layer: h.layer, sampleRate: h.sampleRate, channels: h.channels }
}

export function sameMp3Format(a: Mp3Format, b: Mp3Format): boolean {
  return a.version === b.version && a.layer === b.layer && a.sampleRate === b.sampleRate && a.channels === b.channels
}

/** Human-readable, for error messages: "MP3 (MPEG-2.5 Layer III, 8000 Hz, mono)". */
export function describeMp3Format(f: Mp3Format): string {
  return `MP3 (MPEG-${f.version} Layer ${roman(f.layer)}, ${f.sampleRate} Hz, ${f.channels === 1 ? 'mono' : 'stereo'})`
}

/** Throws Mp3ParseError when the frame at `offset` of one file changes what the file started as. */
export function assertSameFormat(expected: Mp3Format, header: Mp3FrameHeader, offset: number): void {
  const found = formatOf(header)
  if (!sameMp3Format(expected, found)) {
    throw new Mp3ParseError(`the frame at offset ${offset} is ${describeMp3Format(found)}, the file started as ${describeMp3Format(expected)}`)
  }
}
