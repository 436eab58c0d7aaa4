import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import {
  buildWavHeader,
  describeFormat,
  isPcm,
  parseWavLayout,
  sameFormat,
  SUBFORMAT_PCM,
  WavHeaderIncompleteError,
  WavParseError,
  type WavFormat
} from '../../../src/audio/wav/riff.js'
import { makeTone, soxInfo, soxSamples, tempDir, type ToneOptions } from '../../helpers/sox.js'
import {
  bextChunk,
  chunk,
  craftWav,
  dataOf,
  findChunk,
  fmtBody,
  insertChunk,
  listInfoChunk,
  setDataSize,
  toExtensible
} from '../../helpers/wav-craft.js'

const dir = await tempDir(t)
let counter = 0
async function tone(opts: ToneOptions): Promise<{ path: string; bytes: Buffer }> {
  const path = await makeTone(join(dir, `tone-${counter++}.wav`), opts)
  return { path, bytes: await readFile(path) }
}
const parse = (bytes: Buffer) => parseWavLayout(bytes.subarray(0, 64 * 1024), bytes.length)
async function writeTemp(bytes: Buffer): Promise<string> {
  const path = join(dir, `crafted-${counter++}.wav`)
  await writeFile(path, bytes)
  return path
}

t.test('sox-made files of every supported encoding', async (t) => {
  const cases: { name: string; opts: ToneOptions; tag: number; bits: number; blockAlign: number; description: string; fact: boolean }[] = [
    { name: 'PCM 16-bit', opts: { seconds: 0.5 }, tag: 1, bits: 16, blockAlign: 2, description: 'PCM 16-bit 8000 Hz mono', fact: false },
    { name: 'PCM 8-bit', opts: { seconds: 0.5, encoding: 'pcm8' }, tag: 1, bits: 8, blockAlign: 1, description: 'PCM 8-bit 8000 Hz mono', fact: false },
    { name: 'µ-law', opts: { seconds: 0.5, encoding: 'ulaw' }, tag: 7, bits: 8, blockAlign: 1, description: 'µ-law 8-bit 8000 Hz mono', fact: true },
    { name: 'A-law', opts: { seconds: 0.5, encoding: 'alaw' }, tag: 6, bits: 8, blockAlign: 1, description: 'A-law 8-bit 8000 Hz mono', fact: true },
    { name: 'float', opts: { seconds: 0.5, encoding: 'float32', rate: 16000 }, tag: 3, bits: 32, blockAlign: 4, description: 'IEEE float 32-bit 16000 Hz mono', fact: true },
    { name: 'PCM stereo', opts: { seconds: 0.5, channels: 2 }, tag: 1, bits: 16, blockAlign: 4, description: 'PCM 16-bit 8000 Hz stereo', fact: false },
    { name: 'PCM 3 channels, plain header', opts: { seconds: 0.5, channels: 3, extensible: false }, tag: 1, bits: 16, blockAlign: 6, description: 'PCM 16-bit 8000 Hz 3 channels', fact: false },
    { name: 'PCM 3 channels, extensible', opts: { seconds: 0.5, channels: 3 }, tag: 0xfffe, bits: 16, blockAlign: 6, description: 'PCM 16-bit 8000 Hz 3 channels (extensible)', fact: true },
    { name: 'PCM 24-bit, extensible', opts: { seconds: 0.5, encoding: 'pcm24' }, tag: 0xfffe, bits: 24, blockAlign: 3, description: 'PCM 24-bit 8000 Hz mono (extensible)', fact: true }
  ]
  for (const c of cases) {
    const { path, bytes } = await tone(c.opts)
    const info = await soxInfo(path)
    const layout = parse(bytes)
    const data = findChunk(bytes, 'data')
    t.equal(layout.format.formatTag, c.tag, `${c.name}: tag`)
    t.equal(layout.format.channels, info.channels, `${c.name}: channels`)
    t.equal(layout.format.sampleRate, info.sampleRate, `${c.name}: rate`)
    t.equal(layout.format.bitsPerSample, c.bits, `${c.name}: bits`)
    t.equal(layout.format.blockAlign, c.blockAlign, `${c.name}: blockAlign`)
    t.equal(layout.dataOffset, data.offset + 8, `${c.name}: data offset found by walking`)
    t.equal(layout.dataLength, info.samples * c.blockAlign, `${c.name}: data length`)
    t.equal(layout.factSamples === null, !c.fact, `${c.name}: fact read when present`)
    if (c.fact) t.equal(layout.factSamples, info.samples, `${c.name}: fact sample count`)
    t.equal(describeFormat(layout.format), c.description, `${c.name}: description`)
    t.same(layout.format.fmtBody, bytes.subarray(findChunk(bytes, 'fmt ').offset + 8, findChunk(bytes, 'fmt ').offset + 8 + findChunk(bytes, 'fmt ').size), `${c.name}: fmt body verbatim`)
    if (c.tag === 0xfffe) {
      t.equal(layout.format.subFormat, SUBFORMAT_PCM, `${c.name}: PCM sub-format`)
      t.ok(isPcm(layout.format), `${c.name}: extensible PCM counts as PCM`)
    } else {
      t.equal(layout.format.subFormat, null, `${c.name}: no sub-format`)
    }
  }
})

t.test('GSM 6.10 with its fact chunk', async (t) => {
  const { path, bytes } = await tone({ seconds: 1.45, encoding: 'gsm' })
  const layout = parse(bytes)
  const info = await soxInfo(path)
  t.equal(layout.format.formatTag, 0x31)
  t.equal(layout.format.blockAlign, 65)
  // sox pads the last block: 1.45 s = 11600 samples in 37 blocks of 320.
  t.equal(layout.factSamples, 11600)
  t.equal(layout.dataLength, 37 * 65)
  t.equal(layout.dataLength, (info.samples / 320) * 65)
  t.equal(layout.dataLength % 2, 1, 'odd data length, the case that needs a pad byte')
  t.equal(layout.format.fmtBody.length, 20, 'fmt extension (samples per block) kept')
  t.equal(describeFormat(layout.format), 'GSM 6.10 8000 Hz mono')
  t.notOk(isPcm(layout.format))
})

t.test('extra chunks are skipped wherever they are, odd-sized ones with their pad byte', async (t) => {
  const { bytes } = await tone({ seconds: 0.25, freq: 600 })
  const original = parse(bytes)
  const junk = chunk('JUNK', Buffer.alloc(28))
  const odd = chunk('zzzz', Buffer.from('odd', 'latin1')) // 3-byte body + pad byte
  const variants: [string, Buffer][] = [
    ['LIST before fmt', insertChunk(bytes, listInfoChunk('agent 1001'), 'beforeFmt')],
    ['JUNK before fmt', insertChunk(bytes, junk, 'beforeFmt')],
    ['bext before fmt', insertChunk(bytes, bextChunk('recorder'), 'beforeFmt')],
    ['LIST between fmt and data', insertChunk(bytes, listInfoChunk('x'), 'beforeData')],
    ['odd unknown chunk after fmt', insertChunk(bytes, odd, 'afterFmt')],
    ['odd LIST (odd title) + JUNK + bext', insertChunk(insertChunk(insertChunk(bytes, listInfoChunk('ab'), 'afterFmt'), junk, 'beforeFmt'), bextChunk('b'), 'beforeData')],
    ['LIST after data', insertChunk(bytes, listInfoChunk('trailer'), 'end')]
  ]
  for (const [name, wav] of variants) {
    const layout = parse(wav)
    t.equal(layout.dataOffset, findChunk(wav, 'data').offset + 8, `${name}: data offset`)
    t.equal(layout.dataLength, original.dataLength, `${name}: data length`)
    t.ok(sameFormat(layout.format, original.format), `${name}: same format`)
    t.same(wav.subarray(layout.dataOffset, layout.dataOffset + layout.dataLength), dataOf(bytes), `${name}: data bytes`)
    // The crafted file must be valid for sox too, or the test proves nothing.
    t.same(await soxSamples(await writeTemp(wav)), await soxSamples(await writeTemp(bytes)), `${name}: sox reads the same samples`)
  }
})

t.test('placeholder or lying data sizes are replaced by the real byte count', async (t) => {
  const { bytes } = await tone({ seconds: 0.25 })
  const real = dataOf(bytes).length
  for (const size of [0, 0xffffffff, real + 1000]) {
    const layout = parse(setDataSize(bytes, size))
    t.equal(layout.dataLength, real, `declared ${size}`)
  }
  // A truthful size shorter than the file (a trailing chunk follows) is kept.
  const trailed = insertChunk(bytes, listInfoChunk('trailer'), 'end')
  t.equal(parse(trailed).dataLength, real, 'trailing chunk not counted as data')
  t.equal(parse(setDataSize(bytes, real - 10)).dataLength, real - 10, 'a smaller declared size is honoured')
})

t.test('data is trimmed to whole blocks', async (t) => {
  const { bytes } = await tone({ seconds: 0.25, channels: 2 })
  const full = parse(bytes).dataLength
  for (const cut of [1, 2, 3]) {
    const truncated = bytes.subarray(0, bytes.length - cut)
    const layout = parseWavLayout(truncated, truncated.length)
    t.equal(layout.dataLength, full - 4, `stereo 16-bit cut by ${cut}: one partial frame dropped`)
  }
  const gsm = (await tone({ seconds: 0.5, encoding: 'gsm' })).bytes
  const gsmLayout = parse(gsm)
  const cut = gsm.subarray(0, gsm.length - 10)
  t.equal(parseWavLayout(cut, cut.length).dataLength, gsmLayout.dataLength - 65, 'GSM: partial 65-byte block dropped')
})

t.test('only the head is needed: the data chunk header must be in it, not the data', async (t) => {
  const { bytes } = await tone({ seconds: 10 })
  const dataOffset = findChunk(bytes, 'data').offset + 8
  const layout = parseWavLayout(bytes.subarray(0, dataOffset), bytes.length)
  t.equal(layout.dataOffset, dataOffset)
  t.equal(layout.dataLength, bytes.length - dataOffset)
})

t.test('unreadable headers raise WavParseError with a clear message', async (t) => {
  const { bytes } = await tone({ seconds: 0.1 })
  const pcmFmt = fmtBody({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16 })
  const notRiff = Buffer.from(bytes)
  notRiff.write('RIFX', 0, 'latin1')
  const notWave = Buffer.from(bytes)
  notWave.write('AVI ', 8, 'latin1')
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /too short/],
    ['not RIFF', notRiff, /not a RIFF file/],
    ['not WAVE', notWave, /not WAVE/],
    ['an MP3', Buffer.concat([Buffer.from('ID3\u0004', 'latin1'), Buffer.alloc(60)]), /not a RIFF file/],
    ['no fmt at all', craftWav(chunk('data', Buffer.alloc(100))), /data chunk found before any fmt/],
    ['no data', craftWav(chunk('fmt ', pcmFmt)), /no data chunk/],
    ['no chunks', craftWav(), /no fmt chunk/],
    ['fmt too short', craftWav(chunk('fmt ', pcmFmt.subarray(0, 14)), chunk('data', Buffer.alloc(10))), /fmt chunk too short: 14 bytes/],
    ['extensible without its extension', craftWav(chunk('fmt ', fmtBody({ formatTag: 0xfffe, channels: 1, sampleRate: 8000, bitsPerSample: 16 })), chunk('data', Buffer.alloc(10))), /EXTENSIBLE fmt chunk too short/],
    ['zero block alignment', craftWav(chunk('fmt ', fmtBody({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, blockAlign: 0 })), chunk('data', Buffer.alloc(10))), /block alignment of 0/],
    ['zero channels', craftWav(chunk('fmt ', fmtBody({ formatTag: 1, channels: 0, sampleRate: 8000, bitsPerSample: 16, blockAlign: 2 })), chunk('data', Buffer.alloc(10))), /0 channels/]
  ]
  for (const [name, wav, message] of cases) {
    t.throws(() => parseWavLayout(wav.subarray(0, 64 * 1024), wav.length), { name: 'WavParseError', message }, name)
    t.throws(() => parseWavLayout(wav.subarray(0, 64 * 1024), wav.length), WavParseError, `${name}: class`)
    t.notOk(catchError(() => parseWavLayout(wav.subarray(0, 64 * 1024), wav.length)) instanceof WavHeaderIncompleteError, `${name}: not a short read`)
  }
  t.throws(() => parseWavLayout(bytes.subarray(0, 60), 30), { message: /past the end/ }, 'file size smaller than the header')
})

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('did not throw')
}

t.test('a head that ends before data says how many bytes it needs; a file that ends there is broken', async (t) => {
  const { bytes } = await tone({ seconds: 0.1 })
  const withList = insertChunk(bytes, chunk('LIST', Buffer.alloc(70 * 1024)), 'beforeData')
  const dataHeaderEnd = findChunk(withList, 'data').offset + 8
  const withBigFmt = insertChunk(bytes, chunk('JUNK', Buffer.alloc(5000)), 'beforeFmt')
  const fmt = findChunk(withBigFmt, 'fmt ')
  const fmtEnd = fmt.offset + 8 + fmt.size
  const gsm = insertChunk((await tone({ seconds: 0.2, encoding: 'gsm' })).bytes, chunk('JUNK', Buffer.alloc(3000)), 'afterFmt')
  const factBodyEnd = findChunk(gsm, 'fact').offset + 12
  const cases: [string, Buffer, number, number, RegExp][] = [
    ['data chunk header beyond a 64 KiB head (a large LIST)', withList, 64 * 1024, dataHeaderEnd, /no data chunk yet\) lies beyond the first 65536 bytes/],
    ['a 4 KiB head inside a JUNK chunk before fmt', withBigFmt, 4096, fmt.offset + 8, /chunk at offset 5020 \(no fmt chunk yet\) lies beyond the first 4096 bytes/],
    ['fmt body cut by the head', withBigFmt, fmt.offset + 12, fmtEnd, /fmt chunk \(16 bytes at offset 5020\) lies beyond the first 5032 bytes/],
    ['fact body cut by the head', gsm, factBodyEnd - 2, factBodyEnd, /fact chunk/],
    ['a head shorter than the RIFF header', bytes, 5, 12, /RIFF header/]
  ]
  for (const [name, wav, headLength, needBytes, message] of cases) {
    const err = catchError(() => parseWavLayout(wav.subarray(0, headLength), wav.length))
    t.ok(err instanceof WavHeaderIncompleteError, `${name}: a short read`)
    t.ok(err instanceof WavParseError, `${name}: still a WavParseError for callers that do not retry`)
    t.match(err, { name: 'WavHeaderIncompleteError', needBytes, message }, name)
    // With the bytes it named the parser gets further: done, or stopped at a later point.
    let next: unknown = null
    try {
      parseWavLayout(wav.subarray(0, needBytes), wav.length)
    } catch (e) {
      next = e
    }
    t.ok(next === null || (next instanceof WavHeaderIncompleteError && next.needBytes > needBytes), `${name}: ${needBytes} bytes get past that point`)
  }
  t.equal(parseWavLayout(withList.subarray(0, dataHeaderEnd), withList.length).dataOffset, dataHeaderEnd, 'exactly the bytes it named are enough')

  // The same heads, but the file ends there: no longer read can help.
  const truncated: [string, Buffer, RegExp][] = [
    ['a file cut inside a large LIST', withList.subarray(0, 64 * 1024), /no data chunk in the 65536-byte file/],
    ['a file cut inside fmt', withBigFmt.subarray(0, fmtEnd - 4), /fmt chunk .* lies beyond the end of the \d+-byte file/],
    ['a file cut inside fact', gsm.subarray(0, factBodyEnd - 2), /fact chunk .* lies beyond the end/],
    ['a file of 5 bytes', bytes.subarray(0, 5), /too short for a RIFF header/]
  ]
  for (const [name, file, message] of truncated) {
    const err = catchError(() => parseWavLayout(file, file.length))
    t.match(err, { name: 'WavParseError', message }, name)
    t.notOk(err instanceof WavHeaderIncompleteError, `${name}: not a short read`)
  }
  // A head that ends where a chunk header would start, in a file that declares more than it holds.
  const cutAfterList = withList.subarray(0, findChunk(withList, 'data').offset + 4)
  t.match(catchError(() => parseWavLayout(cutAfterList, cutAfterList.length)), { name: 'WavParseError', message: /no data chunk/ })
})

t.test('sameFormat and describeFormat', async (t) => {
  const pcm = parse((await tone({ seconds: 0.1 })).bytes).format
  const pcm18: WavFormat = { ...pcm, fmtBody: Buffer.concat([pcm.fmtBody, Buffer.alloc(2)]) }
  t.ok(sameFormat(pcm, pcm18), 'a PCM fmt with cbSize=0 is the same format')
  t.notOk(sameFormat(pcm, { ...pcm, sampleRate: 16000 }), 'rate')
  t.notOk(sameFormat(pcm, { ...pcm, channels: 2, blockAlign: 4 }), 'channels')
  t.notOk(sameFormat(pcm, { ...pcm, bitsPerSample: 8, blockAlign: 1 }), 'bits')
  const ext = parse(toExtensible((await tone({ seconds: 0.1 })).bytes)).format
  t.equal(ext.formatTag, 0xfffe)
  t.notOk(sameFormat(pcm, ext), 'plain vs extensible headers are kept apart (the header is copied verbatim)')
  t.equal(describeFormat(ext), 'PCM 16-bit 8000 Hz mono (extensible)')
  const gsm = parse((await tone({ seconds: 0.1, encoding: 'gsm' })).bytes).format
  const otherBody = Buffer.from(gsm.fmtBody)
  otherBody.writeUInt16LE(160, 18)
  t.ok(sameFormat(gsm, { ...gsm, fmtBody: Buffer.from(gsm.fmtBody) }), 'GSM with identical fmt')
  t.notOk(sameFormat(gsm, { ...gsm, fmtBody: otherBody }), 'GSM parameters in the fmt extension must match')
  t.equal(describeFormat({ ...pcm, formatTag: 0x55, bitsPerSample: 0, channels: 2 }), 'MP3 8000 Hz stereo')
  t.equal(describeFormat({ ...pcm, formatTag: 0x1234 }), 'format 0x1234 16-bit 8000 Hz mono')
})

t.test('buildWavHeader writes headers sox reads back', async (t) => {
  const cases: [string, ToneOptions, number][] = [
    ['PCM 16-bit', { samples: 1001 }, 1001],
    ['µ-law odd length', { samples: 1001, encoding: 'ulaw' }, 1001],
    ['extensible 3 channels', { samples: 500, channels: 3 }, 500],
    ['GSM', { samples: 1600, encoding: 'gsm' }, 1600]
  ]
  for (const [name, opts, samples] of cases) {
    const { path, bytes } = await tone(opts)
    const layout = parse(bytes)
    const data = bytes.subarray(layout.dataOffset, layout.dataOffset + layout.dataLength)
    // As the planner does: a PCM input's fact (sox writes one for extensible files) says nothing useful.
    const header = buildWavHeader(layout.format, layout.dataLength, isPcm(layout.format) ? null : layout.factSamples)
    const pad = Buffer.alloc(layout.dataLength & 1)
    const out = Buffer.concat([header, data, pad])
    t.equal(out.readUInt32LE(4), out.length - 8, `${name}: RIFF size exact, pad byte included`)
    const reparsed = parse(out)
    t.equal(reparsed.dataOffset, header.length, `${name}: data right after our header`)
    t.equal(reparsed.dataLength, layout.dataLength, `${name}: data size`)
    t.ok(sameFormat(reparsed.format, layout.format), `${name}: fmt copied`)
    t.equal(reparsed.factSamples, isPcm(layout.format) ? null : samples, `${name}: fact only for non-PCM`)
    const outPath = await writeTemp(out)
    t.equal((await soxInfo(outPath)).channels, layout.format.channels, `${name}: sox reads the header`)
    t.same(await soxSamples(outPath), await soxSamples(path), `${name}: same samples as the sox original`)
  }
})

t.test('buildWavHeader details', async (t) => {
  const gsm = parse((await tone({ seconds: 0.1, encoding: 'gsm' })).bytes).format
  const computed = parse(Buffer.concat([buildWavHeader(gsm, 65 * 7, null), Buffer.alloc(65 * 7 + 1)]))
  t.equal(computed.factSamples, 7 * 320, 'GSM fact computed from blocks when not given')
  const pcm = parse((await tone({ seconds: 0.1 })).bytes).format
  t.equal(buildWavHeader(pcm, 100, null).length, 44, 'canonical 44 bytes for a 16-byte PCM fmt')
  t.equal(parse(Buffer.concat([buildWavHeader(pcm, 100, 50), Buffer.alloc(100)])).factSamples, 50, 'explicit fact kept even for PCM')
  const oddFmt: WavFormat = { ...pcm, formatTag: 0x1234, fmtBody: Buffer.concat([fmtBody({ formatTag: 0x1234, channels: 1, sampleRate: 8000, bitsPerSample: 16 }), Buffer.from([1, 0, 9])]) }
  const header = buildWavHeader(oddFmt, 10, null)
  t.equal(header.readUInt32LE(16), 19, 'odd fmt size written as is')
  t.equal(header.toString('latin1', 12 + 8 + 20, 12 + 8 + 24), 'data', 'odd fmt body padded, no fact for an unknown codec')
})
