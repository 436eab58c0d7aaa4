/*
 * RIFF/WAVE headers: reading the layout of a stored file and writing the header of a virtual one.
 * Pure functions on Buffers; nothing here knows about HTTP or providers.
 *
 * Recorders write all sorts of headers (LIST/bext/JUNK chunks, odd-sized chunks, placeholder sizes
 * while streaming), so the reader walks the chunk list instead of assuming the canonical 44 bytes.
 */

export const WAVE_FORMAT_PCM = 0x0001
export const WAVE_FORMAT_IEEE_FLOAT = 0x0003
export const WAVE_FORMAT_ALAW = 0x0006
export const WAVE_FORMAT_MULAW = 0x0007
export const WAVE_FORMAT_GSM610 = 0x0031
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe

/** GSM 6.10 in WAV packs two 160-sample frames into one 65-byte block. */
export const GSM610_SAMPLES_PER_BLOCK = 320

/** The 12 bytes every KSDATAFORMAT_SUBTYPE_* GUID shares after its leading format tag (Data1). */
const SUBTYPE_GUID_TAIL = Buffer.from('00001000800000aa00389b71', 'hex')
/** KSDATAFORMAT_SUBTYPE_PCM, in the hex form used by WavFormat.subFormat. */
export const SUBFORMAT_PCM = '01000000' + SUBTYPE_GUID_TAIL.toString('hex')

/** The size fields are 32-bit; these two values are what streaming recorders leave behind. */
const PLACEHOLDER_SIZES = new Set([0, 0xffffffff])
const MAX_U32 = 0xffffffff

export interface WavFormat {
  /** 1 PCM, 3 float, 6 A-law, 7 µ-law, 0x31 GSM 6.10, 0xFFFE WAVE_FORMAT_EXTENSIBLE. */
  formatTag: number
  channels: number
  sampleRate: number
  byteRate: number
  blockAlign: number
  bitsPerSample: number
  /**
   * The input's `fmt ` chunk body as far as it means anything (see meaningfulFmt), written verbatim
   * into output headers. At most 18 + 65535 bytes whatever the stored chunk's size.
   */
  fmtBody: Buffer
  /** Extensible only: the sub-format GUID's 16 bytes as lowercase hex, else null. */
  subFormat: string | null
}

export interface WavLayout {
  format: WavFormat
  /** File offset of the first byte of the data chunk's payload. */
  dataOffset: number
  /** Usable data bytes: the real byte count when the header lies, trimmed to whole blocks. */
  dataLength: number
  /** From a `fact` chunk when present. */
  factSamples: number | null
}

export class WavParseError extends Error {
  override readonly name: string = 'WavParseError'
}

/**
 * The chunks before `data` (or a `fmt `/`fact` body) reach past the bytes given, and the file is long
 * enough to hold them: not a broken file, only a short read. The caller may read a longer prefix of at
 * least `needBytes` and parse again. A file too short for what its header declares is a plain
 * WavParseError instead: no longer read can help it.
 */
export class WavHeaderIncompleteError extends WavParseError {
  override readonly name = 'WavHeaderIncompleteError'
  constructor(
    message: string,
    /** The prefix length that would get the parser past the point where it stopped. */
    readonly needBytes: number
  ) {
    super(message)
  }
}

/**
 * Walks the chunks in `head` (the first bytes of a file) of a file `fileSize` bytes long.
 * Stops at the `data` chunk: its payload need not be in `head`, only its 8-byte chunk header.
 * Throws WavHeaderIncompleteError when `head` ends before that point but the file goes on.
 */
export function parseWavLayout(head: Buffer, fileSize: number): WavLayout {
  // Bytes beyond `head` that the file holds decide between "read more" and "broken".
  const needMore = (needBytes: number, what: string): WavParseError =>
    needBytes <= fileSize
      ? new WavHeaderIncompleteError(`${what} lies beyond the first ${head.length} bytes (${needBytes} needed)`, needBytes)
      : new WavParseError(`${what} lies beyond the end of the ${fileSize}-byte file`)

  if (head.length < 12) {
    if (head.length < fileSize && fileSize >= 12) throw needMore(12, 'the RIFF header')
    throw new WavParseError(`file too short for a RIFF header (${head.length} bytes)`)
  }
  const riffId = head.toString('latin1', 0, 4)
  // RF64/BW64 files keep the RIFF chunk layout and put 0xFFFFFFFF in the sizes, which the data-size
  // rule below already resolves from the real file size.
  if (riffId !== 'RIFF' && riffId !== 'RF64' && riffId !== 'BW64') {
    throw new WavParseError(`not a RIFF file (starts with ${JSON.stringify(riffId)})`)
  }
  const waveId = head.toString('latin1', 8, 12)
  if (waveId !== 'WAVE') throw new WavParseError(`RIFF file is not WAVE but ${JSON.stringify(waveId)}`)

  let format: WavFormat | null = null
  let factSamples: number | null = null
  let pos = 12
  while (pos + 8 <= head.length) {
    const id = head.toString('latin1', pos, pos + 4)
    const size = head.readUInt32LE(pos + 4)
    const body = pos + 8
    if (id === 'data') {
      if (!format) throw new WavParseError('data chunk found before any fmt chunk')
      return { format, dataOffset: body, dataLength: usableDataLength(format, size, body, fileSize), factSamples }
    }
    if (id === 'fmt ') {
      if (body + size > head.length) throw needMore(body + size, `fmt chunk (${size} bytes at offset ${pos})`)
      format = parseFmt(head.subarray(body, body + size))
    } else if (id === 'fact' && size >= 4) {
      // The sample count goes into our header; guessing it from the data would be wrong for GSM.
      if (body + 4 > head.length) throw needMore(body + 4, `fact chunk (at offset ${pos})`)
      factSamples = head.readUInt32LE(body)
    }
    // Every other chunk (LIST, JUNK, bext, cue, unknown ones) is skipped; bodies are padded to even length.
    pos = body + size + (size & 1)
  }
  const missing = format ? 'data' : 'fmt'
  if (pos + 8 <= fileSize) throw needMore(pos + 8, `the chunk at offset ${pos} (no ${missing} chunk yet)`)
  throw new WavParseError(`no ${missing} chunk in the ${fileSize}-byte file`)
}

function parseFmt(body: Buffer): WavFormat {
  if (body.length < 16) throw new WavParseError(`fmt chunk too short: ${body.length} bytes, at least 16 needed`)
  const formatTag = body.readUInt16LE(0)
  const channels = body.readUInt16LE(2)
  const sampleRate = body.readUInt32LE(4)
  const byteRate = body.readUInt32LE(8)
  const blockAlign = body.readUInt16LE(12)
  const bitsPerSample = body.readUInt16LE(14)
  if (channels === 0) throw new WavParseError('fmt chunk declares 0 channels')
  if (sampleRate === 0) throw new WavParseError('fmt chunk declares a sample rate of 0')
  if (blockAlign === 0) throw new WavParseError('fmt chunk declares a block alignment of 0')
  let subFormat: string | null = null
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    if (body.length < 40) {
      throw new WavParseError(`WAVE_FORMAT_EXTENSIBLE fmt chunk too short: ${body.length} bytes, 40 needed`)
    }
    subFormat = body.toString('hex', 24, 40)
  }
  const format = { formatTag, channels, sampleRate, byteRate, blockAlign, bitsPerSample, subFormat }
  return { ...format, fmtBody: meaningfulFmt(body, format) }
}

/**
 * The bytes of a `fmt ` body that describe the audio, as a fresh copy (a cached layout must not pin the
 * probe buffer): 16 (18 with a cbSize of 0) for PCM, float, A-law and µ-law; 40 for
 * WAVE_FORMAT_EXTENSIBLE; 18 + cbSize for codecs whose parameters follow cbSize (GSM, ADPCM). Whatever
 * a recorder pads the chunk with stays out of memory and out of the headers we write: a 600 KiB fmt
 * chunk was copied into every served header and kept in the layout cache.
 */
function meaningfulFmt(body: Buffer, f: Omit<WavFormat, 'fmtBody'>): Buffer {
  let length: number
  if (f.formatTag === WAVE_FORMAT_EXTENSIBLE) length = 40
  else if (isSimpleCodec({ ...f, fmtBody: body })) length = body.length >= 18 ? 18 : 16
  else length = body.length >= 18 ? Math.min(body.length, 18 + body.readUInt16LE(16)) : body.length
  const kept = Buffer.from(body.subarray(0, length))
  // cbSize must count only the extension bytes kept.
  if (length >= 18) kept.writeUInt16LE(length - 18, 16)
  return kept
}

function usableDataLength(format: WavFormat, declared: number, dataOffset: number, fileSize: number): number {
  const available = fileSize - dataOffset
  if (available < 0) throw new WavParseError(`data chunk starts at ${dataOffset}, past the end of the ${fileSize}-byte file`)
  const length = PLACEHOLDER_SIZES.has(declared) || declared > available ? available : declared
  // A partial last block (a truncated stereo frame, half a GSM block) would shift every later byte of
  // the concatenation out of alignment, so it is dropped.
  return length - (length % format.blockAlign)
}

/**
 * The format tag that says what the samples are: for WAVE_FORMAT_EXTENSIBLE with a standard
 * KSDATAFORMAT_SUBTYPE_* GUID, the tag inside the GUID; otherwise the header's tag.
 */
export function effectiveTag(f: WavFormat): number {
  if (f.formatTag !== WAVE_FORMAT_EXTENSIBLE || f.subFormat === null) return f.formatTag
  const guid = Buffer.from(f.subFormat, 'hex')
  return guid.subarray(4).equals(SUBTYPE_GUID_TAIL) ? guid.readUInt32LE(0) : f.formatTag
}

/** Plain integer PCM, with or without the extensible wrapper: the only formats that need no `fact`. */
export function isPcm(f: WavFormat): boolean {
  return effectiveTag(f) === WAVE_FORMAT_PCM
}

/** Formats whose bytes are fully described by tag, channels, rate, bits and block alignment. */
function isSimpleCodec(f: WavFormat): boolean {
  const tag = effectiveTag(f)
  return tag === WAVE_FORMAT_PCM || tag === WAVE_FORMAT_IEEE_FLOAT || tag === WAVE_FORMAT_ALAW || tag === WAVE_FORMAT_MULAW
}

const CODEC_NAMES: ReadonlyMap<number, string> = new Map([
  [WAVE_FORMAT_PCM, 'PCM'],
  [0x0002, 'MS ADPCM'],
  [WAVE_FORMAT_IEEE_FLOAT, 'IEEE float'],
  [WAVE_FORMAT_ALAW, 'A-law'],
  [WAVE_FORMAT_MULAW, 'µ-law'],
  [0x0011, 'IMA ADPCM'],
  [WAVE_FORMAT_GSM610, 'GSM 6.10'],
  [0x0055, 'MP3']
])

/** Human-readable, for error messages: "PCM 16-bit 8000 Hz mono", "GSM 6.10 8000 Hz mono". */
export function describeFormat(f: WavFormat): string {
  const tag = effectiveTag(f)
  let codec = CODEC_NAMES.get(tag)
  if (codec === undefined) {
    codec = tag === WAVE_FORMAT_EXTENSIBLE ? `extensible {${f.subFormat ?? '?'}}` : `format 0x${tag.toString(16).padStart(4, '0')}`
  }
  const parts = [codec]
  // Compressed formats such as GSM declare 0 bits per sample; saying "0-bit" would only confuse.
  if (f.bitsPerSample > 0) parts.push(`${f.bitsPerSample}-bit`)
  parts.push(`${f.sampleRate} Hz`)
  parts.push(f.channels === 1 ? 'mono' : f.channels === 2 ? 'stereo' : `${f.channels} channels`)
  if (f.formatTag === WAVE_FORMAT_EXTENSIBLE) parts.push('(extensible)')
  return parts.join(' ')
}

/**
 * Whether data bytes of `b` can follow data bytes of `a` under one header. For codecs with parameters
 * in the fmt extension (GSM, ADPCM) the whole fmt body must match; for PCM-like formats an extra
 * cbSize=0 field (an 18-byte fmt) makes no difference to the samples.
 */
export function sameFormat(a: WavFormat, b: WavFormat): boolean {
  const core =
    a.formatTag === b.formatTag &&
    a.channels === b.channels &&
    a.sampleRate === b.sampleRate &&
    a.bitsPerSample === b.bitsPerSample &&
    a.blockAlign === b.blockAlign &&
    a.subFormat === b.subFormat
  if (!core) return false
  return isSimpleCodec(a) || a.fmtBody.equals(b.fmtBody)
}

/**
 * Sample frames held by `dataLength` bytes, or null when the codec's block size in samples is unknown.
 * Compressed codecs (GSM, ADPCM) state samples per block in the fmt extension after cbSize.
 */
export function sampleFrames(f: WavFormat, dataLength: number): number | null {
  const blocks = Math.floor(dataLength / f.blockAlign)
  if (isSimpleCodec(f)) return blocks
  const body = f.fmtBody
  if (f.formatTag !== WAVE_FORMAT_EXTENSIBLE && body.length >= 20 && body.readUInt16LE(16) >= 2) {
    const perBlock = body.readUInt16LE(18)
    if (perBlock > 0) return blocks * perBlock
  }
  if (f.formatTag === WAVE_FORMAT_GSM610) return blocks * GSM610_SAMPLES_PER_BLOCK
  return null
}

/**
 * RIFF/WAVE + `fmt ` (fmtBody verbatim) + `fact` (when the format is not PCM, or factSamples is given)
 * + the `data` chunk header. RIFF and data sizes are exact; the RIFF size counts the pad byte that
 * follows odd-length data. For a non-PCM format without a known sample count and no way to compute
 * one, `fact` is left out: a wrong count would make players cut the audio short.
 */
export function buildWavHeader(format: WavFormat, dataLength: number, factSamples: number | null): Buffer {
  const fmtLen = format.fmtBody.length
  const fmtPad = fmtLen & 1
  const fact = factSamples ?? (isPcm(format) ? null : sampleFrames(format, dataLength))
  const headerLength = 12 + 8 + fmtLen + fmtPad + (fact === null ? 0 : 12) + 8
  const header = Buffer.alloc(headerLength)
  let pos = 0
  header.write('RIFF', pos, 'latin1')
  // Past 4 GiB a RIFF size cannot be right; 0xFFFFFFFF is what readers already treat as "unknown".
  header.writeUInt32LE(Math.min(MAX_U32, headerLength - 8 + dataLength + (dataLength & 1)), pos + 4)
  header.write('WAVE', pos + 8, 'latin1')
  pos = 12
  header.write('fmt ', pos, 'latin1')
  header.writeUInt32LE(fmtLen, pos + 4)
  format.fmtBody.copy(header, pos + 8)
  pos += 8 + fmtLen + fmtPad
  if (fact !== null) {
    header.write('fact', pos, 'latin1')
    header.writeUInt32LE(4, pos + 4)
    header.writeUInt32LE(Math.min(MAX_U32, fact), pos + 8)
    pos += 12
  }
  header.write('data', pos, 'latin1')
  header.writeUInt32LE(Math.min(MAX_U32, dataLength), pos + 4)
  return header
}
