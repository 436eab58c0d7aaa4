import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { Mp3ParseError, parseFrameHeader, readFrameHeader } from '../../../src/audio/mp3/frame-header.js'
import { sniffContainer } from '../../../src/audio/sniff.js'
import { ffprobeFormat, ffprobePackets, makeMp3 } from '../../helpers/mp3-tools.js'
import { makeTone, tempDir } from '../../helpers/sox.js'

const run = promisify(execFile)
const dir = await tempDir(t, 'cxgw-mp3-header-')

/** Every frame ffprobe lists must be where our header says the previous one ends, with the length it says. */
async function checkAgainstFfprobe(t: Test, path: string, expect: { version: string; layer: number; crc?: boolean }): Promise<void> {
  const bytes = await readFile(path)
  const packets = await ffprobePackets(path)
  const format = await ffprobeFormat(path)
  t.ok(packets.length > 10, `${packets.length} frames listed`)
  const wrong: string[] = []
  let next = packets[0]?.pos ?? -1
  for (const p of packets) {
    const h = parseFrameHeader(bytes, p.pos)
    if (p.pos !== next) wrong.push(`frame at ${p.pos}: expected at ${next}`)
    if (h.frameLength !== p.size) wrong.push(`frame at ${p.pos}: length ${h.frameLength}, ffprobe ${p.size}`)
    if (h.sampleRate !== format.sampleRate || h.channels !== format.channels) wrong.push(`frame at ${p.pos}: ${h.sampleRate} Hz ${h.channels} ch`)
    if (h.version !== expect.version || h.layer !== expect.layer) wrong.push(`frame at ${p.pos}: MPEG-${h.version} layer ${h.layer}`)
    if (expect.crc !== undefined && h.crc !== expect.crc) wrong.push(`frame at ${p.pos}: crc ${h.crc}`)
    next = p.pos + h.frameLength
  }
  t.same(wrong, [], 'every frame header agrees with ffprobe')
  t.equal(sniffContainer(bytes), 'mp3')
}

t.test('Layer III from lame: MPEG-2.5, MPEG-2 and MPEG-1, CBR and VBR, padded frames', async (t) => {
  const cases = [
    { name: 'v25-cbr', opts: { seconds: 2, lame: ['-b', '24'] }, version: '2.5' },
    { name: 'v25-vbr', opts: { seconds: 2, lame: ['-V', '5'] }, version: '2.5' },
    { name: 'v2-12k', opts: { seconds: 2, rate: 12000, lame: ['-b', '32'] }, version: '2.5' },
    { name: 'v2-cbr', opts: { seconds: 2, rate: 16000, lame: ['-b', '32'] }, version: '2' },
    { name: 'v2-22k', opts: { seconds: 2, rate: 22050, lame: ['-b', '40'] }, version: '2' },
    { name: 'v1-stereo', opts: { seconds: 1, rate: 44100, channels: 2, lame: ['-b', '128'] }, version: '1' },
    { name: 'v1-vbr', opts: { seconds: 1, rate: 48000, channels: 2, lame: ['-V', '2'] }, version: '1' },
    { name: 'v1-32k-crc', opts: { seconds: 1, rate: 32000, lame: ['-p', '-b', '56'] }, version: '1', crc: true }
  ] as const
  for (const c of cases) {
    const { path } = await makeMp3(dir, c.name, c.opts)
    await t.test(c.name, (t) => checkAgainstFfprobe(t, path, { version: c.version, layer: 3, ...('crc' in c ? { crc: c.crc } : {}) }))
  }
  const padded = await readFile((await makeMp3(dir, 'padded', { seconds: 1, rate: 44100, lame: ['-b', '128'] })).path)
  const lengths = new Set<number>()
  for (let pos = 0; pos < padded.length - 4; ) {
    const h = parseFrameHeader(padded, pos)
    lengths.add(h.frameLength)
    pos += h.frameLength
  }
  t.same([...lengths].sort(), [417, 418], '128 kbit/s at 44.1 kHz: 417-byte frames, padded to 418 now and then')
})

t.test('Layer II from ffmpeg: MPEG-1 and MPEG-2, with CRC', async (t) => {
  const wav = await makeTone(join(dir, 'l2.wav'), { seconds: 2, rate: 48000, channels: 2 })
  for (const [rate, bitrate, version] of [['48000', '192k', '1'], ['22050', '64k', '2'], ['16000', '32k', '2']] as const) {
    const path = join(dir, `l2-${rate}.mp2`)
    await run('ffmpeg', ['-v', 'error', '-y', '-i', wav, '-ar', rate, '-c:a', 'mp2', '-b:a', bitrate, path])
    await t.test(`${rate} Hz ${bitrate}`, (t) => checkAgainstFfprobe(t, path, { version, layer: 2 }))
  }
})

/** A header from its fields, bit by bit as ISO 11172-3 lays them out. */
function header(fields: { version: number; layer: number; noCrc?: boolean; bitrate: number; rate: number; padding?: boolean; mode?: number }): Buffer {
  return Buffer.from([
    0xff,
    0xe0 | (fields.version << 3) | (fields.layer << 1) | (fields.noCrc === false ? 0 : 1),
    (fields.bitrate << 4) | (fields.rate << 2) | (fields.padding ? 2 : 0),
    (fields.mode ?? 3) << 6
  ])
}

t.test('Layer I frame lengths count 4-byte slots (ISO 11172-3: 12 × bitrate / rate, × 4)', async (t) => {
  // MPEG-1 (version bits 11), Layer I (layer bits 11), 32 kbit/s (index 1), 44.1 kHz (index 0).
  const h = parseFrameHeader(header({ version: 3, layer: 3, bitrate: 1, rate: 0 }), 0)
  t.match(h, { version: '1', layer: 1, bitrateKbps: 32, sampleRate: 44100, frameLength: 32, samplesPerFrame: 384, channels: 1 })
  t.equal(parseFrameHeader(header({ version: 3, layer: 3, bitrate: 1, rate: 0, padding: true }), 0).frameLength, 36, 'padding is one slot of 4 bytes')
  t.equal(parseFrameHeader(header({ version: 3, layer: 3, bitrate: 14, rate: 1 }), 0).frameLength, 448, '448 kbit/s at 48 kHz')
  t.match(parseFrameHeader(header({ version: 2, layer: 3, bitrate: 14, rate: 2, mode: 1 }), 0), { version: '2', bitrateKbps: 256, sampleRate: 16000, frameLength: 768, channelMode: 'joint stereo', channels: 2 })
})

t.test('free format and reserved values are refused with the reason', async (t) => {
  const refusals: [Buffer, RegExp][] = [
    [header({ version: 0, layer: 1, bitrate: 0, rate: 2 }), /free-format bitrate \(index 0\) in MPEG-2.5 Layer III: not supported/],
    [header({ version: 1, layer: 1, bitrate: 2, rate: 2 }), /reserved MPEG version/],
    [header({ version: 3, layer: 0, bitrate: 2, rate: 0 }), /reserved layer/],
    [header({ version: 3, layer: 1, bitrate: 15, rate: 0 }), /reserved bitrate index 15/],
    [header({ version: 3, layer: 1, bitrate: 9, rate: 3 }), /reserved sample rate/],
    [Buffer.from('RIFF'), /no frame sync \(bytes 5249\)/],
    [Buffer.from([0xff, 0xe3]), /only 2 bytes/]
  ]
  for (const [bytes, reason] of refusals) {
    t.match(readFrameHeader(bytes, 0), reason)
    t.throws(() => parseFrameHeader(bytes, 0, 'file offset'), Mp3ParseError)
  }
  t.throws(() => parseFrameHeader(header({ version: 0, layer: 1, bitrate: 0, rate: 2 }), 0), { message: /^no valid MPEG audio frame header at offset 0: free-format/ })
})

t.test('the container is told from the first bytes', async (t) => {
  t.equal(sniffContainer(Buffer.from('RIFF\0\0\0\0WAVE')), 'wav')
  t.equal(sniffContainer(Buffer.from('ID3\x04\0\0\0\0\0\0')), 'mp3')
  t.equal(sniffContainer(header({ version: 0, layer: 1, bitrate: 2, rate: 2 })), 'mp3')
  t.equal(sniffContainer(Buffer.from('<?xml version="1.0"?><error/>')), null, 'an error page is neither')
  t.equal(sniffContainer(header({ version: 0, layer: 1, bitrate: 0, rate: 2 })), null, 'a free-format frame is not one we can serve')
})
