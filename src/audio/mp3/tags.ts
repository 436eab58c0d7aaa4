import { Mp3ParseError } from './frame-header.js'
import { windowBytes, type FileWindow } from './need-bytes.js'

/*
 * Metadata tags around the audio frames of an MP3 file. They are harmless at a file's edges and
 * break decoders in the middle of a stream, so the merged file leaves them all out:
 *   start: ID3v2 tags (`ID3`, 10-byte header, syncsafe size, optional 10-byte footer), possibly several;
 *   end:   APEv2 (`APETAGEX` 32-byte footer, with or without a 32-byte header), an appended ID3v2.4
 *          tag (`3DI` footer), and ID3v1 (`TAG`, exactly 128 bytes, always last).
 */

export const ID3V2_HEADER_BYTES = 10
export const ID3V1_BYTES = 128
export const APE_FOOTER_BYTES = 32

/** 28-bit integer in 4 bytes of 7 bits each, or null when a byte has its top bit set. */
function syncsafe(bytes: Buffer, offset: number): number | null {
  let value = 0
  for (let i = 0; i < 4; i++) {
    const b = bytes[offset + i] as number
    if (b & 0x80) return null
    value = (value << 7) | b
  }
  return value
}

/**
 * Total length of an ID3v2 tag whose 10-byte header or footer is `h` (`ID3` or `3DI`), or null when
 * those 10 bytes are not one: a real tag has version 2–4 and a syncsafe size, which keeps audio bytes
 * that happen to spell `ID3` from being taken for a tag.
 */
function id3v2Length(h: Buffer, magic: 'ID3' | '3DI'): number | null {
  if (h.toString('latin1', 0, 3) !== magic) return null
  const major = h[3] as number
  if (major < 2 || major > 4 || h[4] === 0xff) return null
  const size = syncsafe(h, 6)
  if (size === null) return null
  const footer = magic === '3DI' || ((h[5] as number) & 0x10) !== 0
  return ID3V2_HEADER_BYTES + size + (footer ? ID3V2_HEADER_BYTES : 0)
}

/**
 * Where the bytes after the ID3v2 tags at the start of a file begin (0 without tags). Tags may repeat
 * (taggers that prepend instead of replacing). Throws Mp3NeedBytes when a tag header is not in `window`.
 */
export function skipLeadingId3v2(window: FileWindow, fileSize: number, from = 0): number {
  let pos = from
  while (pos + ID3V2_HEADER_BYTES <= fileSize) {
    const length = id3v2Length(windowBytes(window, pos, ID3V2_HEADER_BYTES, pos, 'an ID3v2 tag header'), 'ID3')
    if (length === null) return pos
    if (pos + length > fileSize) throw new Mp3ParseError(`the ID3v2 tag at offset ${pos} (${length} bytes) reaches past the end of the ${fileSize}-byte file`)
    pos += length
  }
  return pos
}

/**
 * Where the tags at the end of a file start (the offset just after its last audio byte; `fileSize`
 * without tags), reading back from `from` (the file's end, or where an earlier call stopped for want of
 * bytes) and stopping at `floor` (where the audio starts). Throws Mp3NeedBytes when a footer lies
 * outside `window`: it is then read with a ranged request and the search resumes where it stopped.
 */
export function findTrailingTags(window: FileWindow, fileSize: number, floor: number, from = fileSize): number {
  let end = from
  // ID3v1 is always the very last thing in a file: it is looked for only there.
  if (end === fileSize && end - ID3V1_BYTES >= floor) {
    const at = end - ID3V1_BYTES
    if (windowBytes(window, at, 3, fileSize, 'the ID3v1 tag position').toString('latin1') === 'TAG') {
      end = at
    }
  }
  // APEv2 and appended ID3v2 tags can come in either order before ID3v1; each says how long it is.
  for (;;) {
    if (end - APE_FOOTER_BYTES >= floor) {
      const footer = windowBytes(window, end - APE_FOOTER_BYTES, APE_FOOTER_BYTES, end, 'an APEv2 footer position')
      if (footer.toString('latin1', 0, 8) === 'APETAGEX') {
        const size = footer.readUInt32LE(12)
        const flags = footer.readUInt32LE(20)
        // The size counts the items and the footer; a header (flag bit 31) comes on top of it.
        const total = size + ((flags & 0x80000000) !== 0 ? APE_FOOTER_BYTES : 0)
        if (size < APE_FOOTER_BYTES || end - total < floor) {
          throw new Mp3ParseError(`the APEv2 tag ending at offset ${end} declares ${total} bytes, more than the file holds after its audio start (${floor})`)
        }
        end -= total
        continue
      }
    }
    if (end - ID3V2_HEADER_BYTES >= floor) {
      const length = id3v2Length(windowBytes(window, end - ID3V2_HEADER_BYTES, ID3V2_HEADER_BYTES, end, 'an ID3v2 footer position'), '3DI')
      if (length !== null) {
        if (end - length < floor) throw new Mp3ParseError(`the appended ID3v2 tag ending at offset ${end} declares ${length} bytes, more than the file holds after its audio start (${floor})`)
        end -= length
        continue
      }
    }
    return end
  }
}
