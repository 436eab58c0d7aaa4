/*
 * MPEG audio frame headers (ISO 11172-3, ISO 13818-3 and the unofficial MPEG 2.5 extension): the
 * four bytes before every frame, which give everything needed to walk a stream frame by frame without
 * decoding it. Pure functions on Buffers.
 *
 * Written by hand rather than taken from a parser library: the layout code needs the header alone
 * (offsets and lengths, not frame payloads), header by header across stream chunks in constant memory,
 * and a precise reason when a header is refused.
 */

export type MpegVersion = '1' | '2' | '2.5'
export type MpegLayer = 1 | 2 | 3
export type ChannelMode = 'stereo' | 'joint stereo' | 'dual channel' | 'mono'

export interface Mp3FrameHeader {
  readonly version: MpegVersion
  readonly layer: MpegLayer
  /** Index into the bitrate table (1–14); kept to write frames with the same bitrate. */
  readonly bitrateIndex: number
  readonly bitrateKbps: number
  readonly sampleRate: number
  readonly padding: boolean
  /** True when a 16-bit CRC follows the header (the protection bit is 0). */
  readonly crc: boolean
  readonly channelMode: ChannelMode
  readonly channels: 1 | 2
  /** Whole frame, header included. */
  readonly frameLength: number
  readonly samplesPerFrame: number
}

export class Mp3ParseError extends Error {
  override readonly name: string = 'Mp3ParseError'
}

/** Four bytes: 11 sync bits, version, layer, protection, bitrate, sample rate, padding, private, mode, … */
export const FRAME_HEADER_BYTES = 4

const VERSIONS: readonly (MpegVersion | null)[] = ['2.5', null, '2', '1']
const LAYERS: readonly (MpegLayer | null)[] = [null, 3, 2, 1]
const CHANNEL_MODES: readonly ChannelMode[] = ['stereo', 'joint stereo', 'dual channel', 'mono']

/** kbit/s for bitrate indexes 1–14; index 0 is free format, 15 is reserved. */
const BITRATES: Readonly<Record<'v1l1' | 'v1l2' | 'v1l3' | 'v2l1' | 'v2l23', readonly number[]>> = {
  v1l1: [32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  v1l2: [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  v1l3: [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  v2l1: [32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  v2l23: [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
}

const SAMPLE_RATES: Readonly<Record<MpegVersion, readonly number[]>> = {
  '1': [44100, 48000, 32000],
  '2': [22050, 24000, 16000],
  '2.5': [11025, 12000, 8000]
}

function bitrateTable(version: MpegVersion, layer: MpegLayer): readonly number[] {
  if (version === '1') return layer === 1 ? BITRATES.v1l1 : layer === 2 ? BITRATES.v1l2 : BITRATES.v1l3
  return layer === 1 ? BITRATES.v2l1 : BITRATES.v2l23
}

/** Samples per channel in one frame. */
export function samplesPerFrame(version: MpegVersion, layer: MpegLayer): number {
  if (layer === 1) return 384
  // MPEG 2 and 2.5 Layer III frames hold one granule instead of two.
  return layer === 3 && version !== '1' ? 576 : 1152
}

/** Frame bytes, header included, for a bitrate in kbit/s. */
export function frameLengthFor(version: MpegVersion, layer: MpegLayer, bitrateKbps: number, sampleRate: number, padding: boolean): number {
  const bps = bitrateKbps * 1000
  // Layer I counts in 4-byte slots; the others in bytes: samples/8 bytes per bit per second.
  if (layer === 1) return (Math.floor((12 * bps) / sampleRate) + (padding ? 1 : 0)) * 4
  return Math.floor(((samplesPerFrame(version, layer) / 8) * bps) / sampleRate) + (padding ? 1 : 0)
}

/** The bitrate in kbit/s for a table index, or undefined outside 1–14. */
export function bitrateForIndex(version: MpegVersion, layer: MpegLayer, index: number): number | undefined {
  return index >= 1 && index <= 14 ? bitrateTable(version, layer)[index - 1] : undefined
}

/** True when `bytes[offset..]` begins with the 11 sync bits (a header may or may not follow). */
export function hasFrameSync(bytes: Uint8Array, offset: number): boolean {
  return offset + 1 < bytes.length && bytes[offset] === 0xff && ((bytes[offset + 1] as number) & 0xe0) === 0xe0
}

/**
 * The header at `offset`, or a reason it is not one. Reserved values and free format (bitrate index
 * 0, whose frame length can only be found by searching for the next sync) are refused.
 */
export function readFrameHeader(bytes: Uint8Array, offset: number): Mp3FrameHeader | string {
  if (offset < 0 || offset + FRAME_HEADER_BYTES > bytes.length) return `only ${Math.max(0, bytes.length - offset)} bytes where a 4-byte frame header is expected`
  if (!hasFrameSync(bytes, offset)) return `no frame sync (bytes ${hex(bytes, offset, 2)})`
  const b1 = bytes[offset + 1] as number
  const b2 = bytes[offset + 2] as number
  const b3 = bytes[offset + 3] as number
  const version = VERSIONS[(b1 >> 3) & 3] ?? null
  if (version === null) return 'reserved MPEG version bits (01)'
  const layer = LAYERS[(b1 >> 1) & 3] ?? null
  if (layer === null) return 'reserved layer bits (00)'
  const bitrateIndex = b2 >> 4
  if (bitrateIndex === 0) return `free-format bitrate (index 0) in MPEG-${version} Layer ${roman(layer)}: not supported`
  if (bitrateIndex === 15) return 'reserved bitrate index 15'
  const sampleRateIndex = (b2 >> 2) & 3
  if (sampleRateIndex === 3) return 'reserved sample rate index 3'
  const bitrateKbps = bitrateForIndex(version, layer, bitrateIndex) as number
  const sampleRate = SAMPLE_RATES[version][sampleRateIndex] as number
  const padding = ((b2 >> 1) & 1) === 1
  const channelMode = CHANNEL_MODES[b3 >> 6] as ChannelMode
  return {
    version,
    layer,
    bitrateIndex,
    bitrateKbps,
    sampleRate,
    padding,
    crc: (b1 & 1) === 0,
    channelMode,
    channels: channelMode === 'mono' ? 1 : 2,
    frameLength: frameLengthFor(version, layer, bitrateKbps, sampleRate, padding),
    samplesPerFrame: samplesPerFrame(version, layer)
  }
}

/** Like readFrameHeader, but a refused header throws Mp3ParseError naming `offset` and `where`. */
export function parseFrameHeader(bytes: Uint8Array, offset: number, where = 'offset'): Mp3FrameHeader {
  const header = readFrameHeader(bytes, offset)
  if (typeof header === 'string') throw new Mp3ParseError(`no valid MPEG audio frame header at ${where} ${offset}: ${header}`)
  return header
}

/** Bytes of Layer III side information after the header (and its CRC): where a Xing/Info tag starts. */
export function sideInfoLength(version: MpegVersion, channels: 1 | 2): number {
  if (version === '1') return channels === 1 ? 17 : 32
  return channels === 1 ? 9 : 17
}

export function roman(layer: MpegLayer): string {
  return layer === 1 ? 'I' : layer === 2 ? 'II' : 'III'
}

function hex(bytes: Uint8Array, offset: number, length: number): string {
  return Buffer.from(bytes.subarray(offset, offset + length)).toString('hex')
}
