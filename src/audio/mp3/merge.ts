import { FormatMismatchError } from '../../errors.js'
import { layOutParts, type VirtualFile, type VirtualPart } from '../virtual-file.js'
import { describeMp3Format, sameMp3Format, type Mp3Format } from './format.js'
import type { Mp3Layout } from './layout.js'
import { buildInfoFrame, infoFrameShape } from './vbr-tag.js'

/*
 * A merged MP3 leg: `[Info frame][seg1 audio frames][seg2 audio frames]…`. Frames of several files can
 * follow each other because every encoder starts a file with an empty bit reservoir; what cannot sit in
 * the middle (ID3v2, the per-file Xing/Info/VBRI frame, APEv2, ID3v1) is outside each part already.
 */

export interface Mp3Plan extends VirtualFile {
  readonly format: Mp3Format
  /** Audio frames of the whole leg, the Info frame not included. */
  readonly frameCount: number
}

/** Throws FormatMismatchError naming both formats when the segments cannot share one stream. */
export function planMp3(layouts: readonly Mp3Layout[]): Mp3Plan {
  const first = layouts[0]
  if (!first) throw new TypeError('planMp3 needs at least one segment')
  for (const layout of layouts) {
    if (!sameMp3Format(first.format, layout.format)) throw new FormatMismatchError(describeMp3Format(first.format), describeMp3Format(layout.format))
  }
  const frameCount = layouts.reduce((sum, l) => sum + l.frameCount, 0)
  const audioLength = layouts.reduce((sum, l) => sum + l.audioLength, 0)
  const cbrIndex = constantBitrateIndex(layouts)
  const segments = layouts.map((l) => ({ fileOffset: l.audioOffset, length: l.audioLength }))

  // Xing/Info tags are defined for Layer III only; Layer I and II streams are served without one.
  if (first.format.layer !== 3) {
    return { size: audioLength, prefix: Buffer.alloc(0), parts: layOutParts(0, segments), suffix: Buffer.alloc(0), format: first.format, frameCount }
  }
  const shape = infoFrameShape(first.format, first.channelMode, cbrIndex)
  const size = shape.length + audioLength
  const parts = layOutParts(shape.length, segments)
  const prefix = buildInfoFrame(shape, {
    kind: cbrIndex === null ? 'Xing' : 'Info',
    frames: frameCount,
    bytes: size,
    toc: shape.withToc ? seekTable(layouts, parts, frameCount, size) : null
  })
  return { size, prefix, parts, suffix: Buffer.alloc(0), format: first.format, frameCount }
}

/** The one bitrate index of every frame of every segment, or null (VBR, or segments at different rates). */
function constantBitrateIndex(layouts: readonly Mp3Layout[]): number | null {
  const indexes = new Set(layouts.filter((l) => l.frameCount > 0).map((l) => l.bitrateIndex))
  const [only] = indexes
  return indexes.size === 1 && only !== undefined ? only : null
}

/**
 * The Xing TOC: for each percent of the playing time, where it starts in 1/256 of the file. Exact at
 * every joint and for CBR; inside a VBR segment the frames are taken as equally long, the best that
 * can be said without reading every frame header of it.
 */
function seekTable(layouts: readonly Mp3Layout[], parts: readonly VirtualPart[], frameCount: number, size: number): Uint8Array {
  const toc = new Uint8Array(100)
  if (frameCount === 0) return toc
  let segment = 0
  let framesBefore = 0
  for (let percent = 0; percent < 100; percent++) {
    const frame = (percent / 100) * frameCount
    while (segment < layouts.length - 1 && frame >= framesBefore + (layouts[segment] as Mp3Layout).frameCount) {
      framesBefore += (layouts[segment] as Mp3Layout).frameCount
      segment++
    }
    const layout = layouts[segment] as Mp3Layout
    const part = parts[segment] as VirtualPart
    const within = layout.frameCount === 0 ? 0 : Math.min(1, (frame - framesBefore) / layout.frameCount)
    const position = part.virtualOffset + within * part.length
    toc[percent] = Math.min(255, Math.floor((position / size) * 256))
  }
  return toc
}
