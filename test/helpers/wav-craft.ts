/*
 * Byte-level surgery on WAV files, to build the variants real recorders produce (extra chunks,
 * odd-sized chunks, placeholder sizes) out of files sox generated. Deliberately independent of
 * src/audio/wav so the tests do not check the code with itself.
 */

export interface ChunkInfo {
  id: string
  /** Offset of the chunk's 8-byte header. */
  offset: number
  /** Size field as written (the body is padded to even length after it). */
  size: number
}

/** Top-level chunks after `RIFF....WAVE`, stopping at the end of the buffer. */
export function listChunks(wav: Buffer): ChunkInfo[] {
  const chunks: ChunkInfo[] = []
  let pos = 12
  while (pos + 8 <= wav.length) {
    const id = wav.toString('latin1', pos, pos + 4)
    const size = wav.readUInt32LE(pos + 4)
    chunks.push({ id, offset: pos, size })
    // A placeholder data size (0xFFFFFFFF) would loop far past the end; data is the last chunk we care about.
    if (id === 'data') break
    pos += 8 + size + (size & 1)
  }
  return chunks
}

export function findChunk(wav: Buffer, id: string): ChunkInfo {
  const chunk = listChunks(wav).find((c) => c.id === id)
  if (!chunk) throw new Error(`no ${id} chunk`)
  return chunk
}

/** A chunk with its pad byte when the body is odd. */
export function chunk(id: string, body: Buffer): Buffer {
  if (id.length !== 4) throw new Error(`chunk id must be 4 characters: ${JSON.stringify(id)}`)
  const head = Buffer.alloc(8)
  head.write(id, 0, 'latin1')
  head.writeUInt32LE(body.length, 4)
  return Buffer.concat([head, body, Buffer.alloc(body.length & 1)])
}

/** A LIST/INFO chunk with one INAM string, the way editors tag files. */
export function listInfoChunk(title: string): Buffer {
  const text = Buffer.from(title + '\0', 'latin1')
  return chunk('LIST', Buffer.concat([Buffer.from('INFO', 'latin1'), chunk('INAM', text)]))
}

/** A bext (Broadcast WAV) chunk of the standard 602-byte minimum, description filled in. */
export function bextChunk(description: string): Buffer {
  const body = Buffer.alloc(602)
  body.write(description.slice(0, 256), 0, 'latin1')
  return chunk('bext', body)
}

export type InsertPosition = 'beforeFmt' | 'afterFmt' | 'beforeData' | 'end'

/** Inserts a ready-made chunk (see `chunk`) and fixes the RIFF size. */
export function insertChunk(wav: Buffer, rawChunk: Buffer, where: InsertPosition): Buffer {
  let at: number
  if (where === 'beforeFmt') at = findChunk(wav, 'fmt ').offset
  else if (where === 'afterFmt') {
    const fmt = findChunk(wav, 'fmt ')
    at = fmt.offset + 8 + fmt.size + (fmt.size & 1)
  } else if (where === 'beforeData') at = findChunk(wav, 'data').offset
  else at = wav.length
  return fixRiffSize(Buffer.concat([wav.subarray(0, at), rawChunk, wav.subarray(at)]))
}

export function removeChunk(wav: Buffer, id: string): Buffer {
  const c = findChunk(wav, id)
  const end = c.offset + 8 + c.size + (c.size & 1)
  return fixRiffSize(Buffer.concat([wav.subarray(0, c.offset), wav.subarray(end)]))
}

export function fixRiffSize(wav: Buffer): Buffer {
  wav.writeUInt32LE(wav.length - 8, 4)
  return wav
}

/** Overwrites the data chunk's size field (0 and 0xFFFFFFFF are what streaming recorders write). */
export function setDataSize(wav: Buffer, size: number): Buffer {
  const copy = Buffer.from(wav)
  copy.writeUInt32LE(size, findChunk(copy, 'data').offset + 4)
  return copy
}

export function setRiffSize(wav: Buffer, size: number): Buffer {
  const copy = Buffer.from(wav)
  copy.writeUInt32LE(size, 4)
  return copy
}

/** Replaces the fmt chunk's body (sizes fixed). */
export function replaceFmt(wav: Buffer, body: Buffer): Buffer {
  const fmt = findChunk(wav, 'fmt ')
  const end = fmt.offset + 8 + fmt.size + (fmt.size & 1)
  return fixRiffSize(Buffer.concat([wav.subarray(0, fmt.offset), chunk('fmt ', body), wav.subarray(end)]))
}

export function fmtBodyOf(wav: Buffer): Buffer {
  const fmt = findChunk(wav, 'fmt ')
  return Buffer.from(wav.subarray(fmt.offset + 8, fmt.offset + 8 + fmt.size))
}

/** The data payload as the header declares it (clamped to the file). */
export function dataOf(wav: Buffer): Buffer {
  const data = findChunk(wav, 'data')
  return Buffer.from(wav.subarray(data.offset + 8, Math.min(wav.length, data.offset + 8 + data.size)))
}

export const KSDATAFORMAT_SUBTYPE_PCM = Buffer.from('0100000000001000800000aa00389b71', 'hex')

/** Rewraps a plain PCM fmt as WAVE_FORMAT_EXTENSIBLE (cbSize 22, channel mask 0, PCM sub-format). */
export function toExtensible(wav: Buffer): Buffer {
  const plain = fmtBodyOf(wav)
  const body = Buffer.alloc(40)
  plain.copy(body, 0, 0, 16)
  body.writeUInt16LE(0xfffe, 0)
  body.writeUInt16LE(22, 16)
  body.writeUInt16LE(plain.readUInt16LE(14), 18) // valid bits = container bits
  body.writeUInt32LE(0, 20)
  KSDATAFORMAT_SUBTYPE_PCM.copy(body, 24)
  return replaceFmt(wav, body)
}

export interface FmtFields {
  formatTag: number
  channels: number
  sampleRate: number
  bitsPerSample: number
  blockAlign?: number
  byteRate?: number
  /** Bytes after the 16 standard ones (cbSize included), if any. */
  extension?: Buffer
}

export function fmtBody(f: FmtFields): Buffer {
  const blockAlign = f.blockAlign ?? (f.channels * f.bitsPerSample) / 8
  const body = Buffer.alloc(16)
  body.writeUInt16LE(f.formatTag, 0)
  body.writeUInt16LE(f.channels, 2)
  body.writeUInt32LE(f.sampleRate, 4)
  body.writeUInt32LE(f.byteRate ?? f.sampleRate * blockAlign, 8)
  body.writeUInt16LE(blockAlign, 12)
  body.writeUInt16LE(f.bitsPerSample, 14)
  return f.extension ? Buffer.concat([body, f.extension]) : body
}

/** `RIFF` + `WAVE` + the given chunks, in order, RIFF size exact. */
export function craftWav(...chunks: Buffer[]): Buffer {
  const head = Buffer.alloc(12)
  head.write('RIFF', 0, 'latin1')
  head.write('WAVE', 8, 'latin1')
  return fixRiffSize(Buffer.concat([head, ...chunks]))
}
