import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { FIRST_HEAD_PROBE_BYTES, MAX_HEAD_PROBE_BYTES, probeWavLayout, type ReadHead } from '../../../src/audio/wav/layout-probe.js'
import { WavParseError } from '../../../src/audio/wav/riff.js'
import { makeTone, tempDir } from '../../helpers/sox.js'
import { chunk, findChunk, insertChunk, listInfoChunk } from '../../helpers/wav-craft.js'

const dir = await tempDir(t)
const plain = await readFile(await makeTone(join(dir, 'plain.wav'), { seconds: 1 }))

/** A file in memory read the way providers do (never more than asked), recording every length asked for. */
function fileReader(bytes: Buffer, limit = Infinity): { read: ReadHead; asked: number[] } {
  const asked: number[] = []
  return {
    asked,
    read: async (n) => {
      asked.push(n)
      return { size: bytes.length, head: Buffer.from(bytes.subarray(0, Math.min(n, limit))) }
    }
  }
}

t.test('a usual header is found with one small read', async (t) => {
  const file = fileReader(insertChunk(plain, listInfoChunk('agent 1001'), 'beforeData'))
  const layout = await probeWavLayout(file.read)
  t.equal(layout.dataOffset, findChunk(insertChunk(plain, listInfoChunk('agent 1001'), 'beforeData'), 'data').offset + 8)
  t.same(file.asked, [FIRST_HEAD_PROBE_BYTES])
  t.equal(FIRST_HEAD_PROBE_BYTES, 4096)
})

t.test('chunks before data beyond the first read: longer reads, at least ×8 each, up to what is needed', async (t) => {
  const withList = insertChunk(plain, chunk('LIST', Buffer.alloc(200 * 1024)), 'beforeData')
  const dataAt = findChunk(withList, 'data').offset
  const big = fileReader(withList)
  t.equal((await probeWavLayout(big.read)).dataOffset, dataAt + 8)
  t.same(big.asked, [4096, dataAt + 8], 'the LIST size tells how far to read: one more read')

  // Many small chunks: each read only reveals the next one, so the reads grow geometrically.
  let many: Buffer = plain
  for (let i = 0; i < 40; i++) many = insertChunk(many, chunk('JUNK', Buffer.alloc(3000)), 'beforeData')
  const stepwise = fileReader(many)
  t.equal((await probeWavLayout(stepwise.read)).dataOffset, findChunk(many, 'data').offset + 8)
  t.same(stepwise.asked, [4096, 32_768, 262_144])
})

t.test('a header beyond the cap is a WavParseError naming the cap, after reading no more than the cap', async (t) => {
  const wav = insertChunk(plain, chunk('LIST', Buffer.alloc(MAX_HEAD_PROBE_BYTES)), 'beforeData')
  const file = fileReader(wav)
  await t.rejects(probeWavLayout(file.read), { name: 'WavParseError', message: /larger than the 1 MiB \(1048576 bytes\)/ })
  t.same(file.asked, [4096], 'the LIST size already says the header cannot fit: nothing more is read')

  let many: Buffer = plain
  for (let i = 0; i < 400; i++) many = insertChunk(many, chunk('JUNK', Buffer.alloc(3000)), 'beforeData')
  const stepwise = fileReader(many)
  await t.rejects(probeWavLayout(stepwise.read), { name: 'WavParseError', message: /larger than the 1 MiB/ })
  t.same(stepwise.asked, [4096, 32_768, 262_144, MAX_HEAD_PROBE_BYTES], 'the last read is the cap')
})

t.test('broken files and short reads are errors, not endless retries', async (t) => {
  const truncated = insertChunk(plain, chunk('LIST', Buffer.alloc(200 * 1024)), 'beforeData').subarray(0, 100 * 1024)
  const cut = fileReader(truncated)
  const err: unknown = await probeWavLayout(cut.read).catch((e: unknown) => e)
  t.ok(err instanceof WavParseError)
  t.match(err, { name: 'WavParseError', message: /no data chunk in the 102400-byte file/ })
  t.same(cut.asked, [4096], 'a LIST reaching past the end of the file is seen at once: no further read')

  const stingy = fileReader(insertChunk(plain, chunk('LIST', Buffer.alloc(10_000)), 'beforeData'), 5000)
  await t.rejects(probeWavLayout(stingy.read), { name: 'WavParseError', message: /only 5000 of the \d+ bytes asked for were read/ })
  t.equal(stingy.asked.length, 2)

  const failure = new Error('upstream down')
  await t.rejects(probeWavLayout(() => Promise.reject(failure)), failure, 'errors of the read pass through')
})
