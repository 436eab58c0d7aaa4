/*
 * The day-directory index on its own: names grouped by dialogId, one listing per change shared by
 * concurrent look-ups, mtime granularity, the LRU bound. Listings are counted through onListing.
 */
import t from 'tap'
import { mkdir, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DirectoryIndex, MTIME_GRANULARITY_MS, REUSE_MS, type ListingReport } from '../src/providers/efswitch/directory-index.js'
import { recordingsRoot } from './helpers/efswitch-fixtures.js'

const root = await recordingsRoot(t)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function counted(maxEntries = 1_000_000): { index: DirectoryIndex; reports: ListingReport[] } {
  const reports: ListingReport[] = []
  return { index: new DirectoryIndex({ maxEntries, onListing: (r) => reports.push(r) }), reports }
}

let dirs = 0
/** A directory holding `names` (empty files), its mtime set to `mtime` (whole milliseconds, so it can be set back exactly). */
async function directory(names: readonly string[], mtime: number): Promise<string> {
  const dir = join(root, `d${dirs++}`)
  await mkdir(dir)
  for (const name of names) await writeFile(join(dir, name), '')
  await utimes(dir, new Date(mtime), new Date(mtime))
  return dir
}

const longAgo = (): number => Date.now() - 3_600_000

t.test('names are grouped by dialogId, case-insensitively; other names cost nothing', async (t) => {
  const dir = await directory(
    [
      'a84b4c76e66710@pc33.example.com:1001:+41:1.wav',
      'A84B4C76E66710@PC33.EXAMPLE.COM:1002:+41:2.mp3',
      'a84b4c76e66710@pc33.example.com.bak:1001:+41:3.wav',
      'a84b4c76e66710:1001:+41:4.wav',
      'other@pc1:1001:+41:5.WAV',
      'notes.txt',
      'a84b4c76e66710@pc33.example.com.wav',
      'a84b4c76e66710@pc33.example.com:1001:+41:6.wav.part'
    ],
    longAgo()
  )
  const { index, reports } = counted()
  t.same(
    [...(await index.namesOf(dir, 'a84b4c76e66710@pc33.example.com'))].sort(),
    ['A84B4C76E66710@PC33.EXAMPLE.COM:1002:+41:2.mp3', 'a84b4c76e66710@pc33.example.com:1001:+41:1.wav']
  )
  t.same(await index.namesOf(dir, 'OTHER@pc1'), ['other@pc1:1001:+41:5.WAV'])
  t.same(await index.namesOf(dir, 'nobody@pc1'), [])
  t.equal(reports.length, 1, 'one listing for all three look-ups')
  t.equal(reports[0]!.names, 5, 'only names that can be recordings are kept')
  t.equal(index.size, 5)
})

t.test('concurrent look-ups of a cold directory share one listing', async (t) => {
  const dir = await directory(
    Array.from({ length: 500 }, (_, i) => `call-${i}@pbx:1001::${i}.wav`),
    longAgo()
  )
  const { index, reports } = counted()
  const found = await Promise.all(Array.from({ length: 50 }, (_, i) => index.namesOf(dir, `call-${i * 10}@pbx`)))
  t.same(found, Array.from({ length: 50 }, (_, i) => [`call-${i * 10}@pbx:1001::${i * 10}.wav`]))
  t.equal(reports.length, 1)
})

t.test('an unchanged directory whose mtime is older than the granularity is listed once', async (t) => {
  const dir = await directory(['x@pbx:1001::1.wav'], longAgo())
  const { index, reports } = counted()
  for (let i = 0; i < 200; i++) await index.namesOf(dir, 'x@pbx')
  await sleep(REUSE_MS + 100)
  t.same(await index.namesOf(dir, 'x@pbx'), ['x@pbx:1001::1.wav'])
  t.equal(reports.length, 1, 'yesterday’s directory: one listing, whatever the look-ups')
})

t.test('a new file moves the mtime: the next look-up lists again and finds it', async (t) => {
  const dir = await directory(['old@pbx:1001::1.wav'], longAgo())
  const { index, reports } = counted()
  t.same(await index.namesOf(dir, 'new@pbx'), [])
  await writeFile(join(dir, 'new@pbx:1002::2.wav'), '')
  // A listing is not repeated within twice its own duration (bounded by REUSE_MS); after that, at once.
  await sleep(REUSE_MS)
  t.same(await index.namesOf(dir, 'new@pbx'), ['new@pbx:1002::2.wav'], 'found on the first look-up')
  t.equal(reports.length, 2)
})

t.test('a file created in the same mtime tick as the listing is found within a second', async (t) => {
  // A file system with coarse timestamps: the directory's mtime does not move when the file appears.
  const mtime = Date.now() - 50
  const dir = await directory(['first@pbx:1001::1.wav'], mtime)
  const { index, reports } = counted()
  t.same(await index.namesOf(dir, 'late@pbx'), [])
  await writeFile(join(dir, 'late@pbx:1001::2.wav'), '')
  await utimes(dir, new Date(mtime), new Date(mtime))
  await sleep(MTIME_GRANULARITY_MS)
  t.same(await index.namesOf(dir, 'late@pbx'), ['late@pbx:1001::2.wav'], 'a second later it is there')
  t.ok(reports.length >= 2)

  // Once a listing began a whole granularity after the mtime, an unchanged mtime is trusted for good.
  const settledAt = reports.length
  await sleep(REUSE_MS + 100)
  for (let i = 0; i < 20; i++) await index.namesOf(dir, 'late@pbx')
  await sleep(REUSE_MS + 100)
  await index.namesOf(dir, 'late@pbx')
  t.ok(reports.length <= settledAt + 1, `no more listings once settled (${reports.length - settledAt} after)`)
})

t.test('memory is bounded by names over all directories (LRU)', async (t) => {
  const names = (prefix: string): string[] => Array.from({ length: 100 }, (_, i) => `${prefix}-${i}@pbx:1001::${i}.wav`)
  const [a, b, c] = [await directory(names('a'), longAgo()), await directory(names('b'), longAgo()), await directory(names('c'), longAgo())]
  const { index, reports } = counted(250)
  await index.namesOf(a, 'a-1@pbx')
  await index.namesOf(b, 'b-1@pbx')
  await index.namesOf(c, 'c-1@pbx')
  t.equal(index.size, 200, 'the least recently used directory made room')
  t.same(await index.namesOf(c, 'c-2@pbx'), ['c-2@pbx:1001::2.wav'])
  t.equal(reports.length, 3, 'the most recent directory is still held')
  t.same(await index.namesOf(a, 'a-2@pbx'), ['a-2@pbx:1001::2.wav'])
  t.equal(reports.length, 4, 'the evicted one is listed again')

  const { index: tiny, reports: tinyReports } = counted(50)
  t.same(await tiny.namesOf(a, 'a-3@pbx'), ['a-3@pbx:1001::3.wav'], 'a directory larger than the whole index still answers')
  t.same(await tiny.namesOf(a, 'a-4@pbx'), ['a-4@pbx:1001::4.wav'])
  t.equal(tiny.size, 0)
  t.same(
    tinyReports.map((r) => r.kept),
    [false, false],
    'it is not kept, and says so'
  )
})

t.test('a directory that does not exist (yet, or any more) has no names', async (t) => {
  const { index, reports } = counted()
  t.same(await index.namesOf(join(root, 'no-such-day'), 'x@pbx'), [])
  t.equal(reports.length, 0)
})

t.test('a look-up can be aborted; the shared listing goes on for the others', async (t) => {
  const dir = await directory(
    Array.from({ length: 2000 }, (_, i) => `call-${i}@pbx:1001::${i}.wav`),
    longAgo()
  )
  const { index, reports } = counted()
  const controller = new AbortController()
  const aborted = index.namesOf(dir, 'call-1@pbx', controller.signal)
  const other = index.namesOf(dir, 'call-2@pbx')
  controller.abort(new Error('client went away'))
  await t.rejects(aborted, { message: 'client went away' })
  t.same(await other, ['call-2@pbx:1001::2.wav'])
  t.equal(reports.length, 1)
})
