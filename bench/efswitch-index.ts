import { closeSync, openSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { DirectoryIndex } from '../src/providers/efswitch/directory-index.js'
import { RecordingsRoot } from '../src/providers/efswitch/recordings-root.js'
import { mb, median, report, row } from './common.js'

/*
 * EFSwitch day directories: one directory of FILES recordings (empty files with the switch's names, in
 * the temp directory, removed at the end). A look-up is what findLegs does per directory once the
 * database has named it: the index's names for the dialogId, then an lstat of each. Baseline: the same
 * look-up by hand, reading the whole directory and filtering it, as the provider did before the index.
 * Figures: cold listing time, index memory, warm look-up latency (target p95 ≤ 20 ms), listings per
 * push run, and listings while the directory keeps changing (today's directory on a busy switch).
 */

const FILES = Number(process.env.BENCH_EFSWITCH_FILES ?? 100_000)
const WARM_LOOKUPS = 10_000
const BASELINE_LOOKUPS = 20
const PUSH_RUN_CALLS = 10_000

const silent = { warn: () => {} }

function callId(i: number): string {
  return `${(i * 2654435761 % 4294967296).toString(16).padStart(8, '0')}-${i.toString(36)}@pc${i % 97}.example.com`
}
function fileName(i: number): string {
  return `${callId(i)}:${1000 + (i % 50)}:+4144${String(i).padStart(7, '0')}:${1_796_515_200_000 + i * 800}.wav`
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

/** V8's collector, reached without a command-line flag so `npm run bench` needs none. */
function collector(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

export async function runEfswitchIndexBench(): Promise<void> {
  console.log(`efswitch-index: one day directory of ${FILES.toLocaleString('en')} recordings`)
  const root = await mkdtemp(join(tmpdir(), 'gw-bench-efswitch-'))
  try {
    const dir = join(root, 'day')
    await mkdir(dir)
    const made = performance.now()
    for (let i = 0; i < FILES; i++) closeSync(openSync(join(dir, fileName(i)), 'w'))
    console.log(`  (made the files in ${((performance.now() - made) / 1000).toFixed(1)} s)`)
    const hourAgo = new Date(Date.now() - 3_600_000)
    await utimes(dir, hourAgo, hourAgo)
    const files = new RecordingsRoot(root, silent)
    const gc = collector()

    // Cold listing: a fresh index each time (the page cache is warm after the first).
    const cold: number[] = []
    for (let run = 0; run < 5; run++) {
      const index = new DirectoryIndex({ maxEntries: 1_000_000 })
      const t0 = performance.now()
      await index.namesOf(dir, callId(run))
      cold.push(performance.now() - t0)
    }

    gc()
    const before = process.memoryUsage().heapUsed
    let listings = 0
    const index = new DirectoryIndex({ maxEntries: 1_000_000, onListing: () => listings++ })
    await index.namesOf(dir, callId(0))
    gc()
    const held = process.memoryUsage().heapUsed - before
    report(`index memory, ${FILES.toLocaleString('en')} names`, mb(held), 'stated', null)
    report('  per 100,000 names', mb((held / FILES) * 100_000), 'stated', null)

    const lookUp = async (target: DirectoryIndex, i: number): Promise<number> => {
      let found = 0
      for (const name of await target.namesOf(dir, callId(i))) if ((await files.acceptFile(dir, name)) !== null) found++
      return found
    }
    const warm: number[] = []
    let missing = 0
    for (let n = 0; n < WARM_LOOKUPS; n++) {
      const i = (n * 7919) % FILES
      const t0 = performance.now()
      if ((await lookUp(index, i)) !== 1) missing++
      warm.push(performance.now() - t0)
    }
    warm.sort((a, b) => a - b)
    const p95 = percentile(warm, 95)
    if (missing > 0) console.log(`  ${missing} look-ups did not find their file: the figures are wrong`)

    // Baseline: read the whole directory and filter it, per look-up (what the provider did before).
    const baseline: number[] = []
    for (let n = 0; n < BASELINE_LOOKUPS; n++) {
      const prefix = `${callId(n * 4999)}:`
      const t0 = performance.now()
      const names = (await readdir(dir)).filter((name) => name.startsWith(prefix))
      for (const name of names) await files.acceptFile(dir, name)
      baseline.push(performance.now() - t0)
    }
    baseline.sort((a, b) => a - b)
    const base50 = percentile(baseline, 50)
    const ms = (v: number, digits = 3): string => `${v.toFixed(digits)} ms`
    console.log('  index / baseline (readdir + filter for every look-up):')
    row('cold listing (median of 5)', ms(median(cold), 0), `${ms(base50, 0)} readdir+filter`, median(cold) / base50, 'stated', null)
    row('warm look-up p50', ms(percentile(warm, 50)), `${ms(base50, 1)} readdir+filter`, percentile(warm, 50) / base50, '', null)
    row('warm look-up p95', ms(p95), `${ms(percentile(baseline, 95), 1)} readdir+filter`, p95 / percentile(baseline, 95), 'p95 ≤ 20 ms', p95 <= 20)
    report('warm look-up p99', ms(percentile(warm, 99)), '', null)
    report('  baseline p50 ÷ index p50', `${(base50 / percentile(warm, 50)).toFixed(0)}×`, '', null)

    listings = 0
    const runIndex = new DirectoryIndex({ maxEntries: 1_000_000, onListing: () => listings++ })
    let next = 0
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let n = next++; n < PUSH_RUN_CALLS; n = next++) await lookUp(runIndex, (n * 13) % FILES)
      })
    )
    const runMs = performance.now() - t0
    row(`listings, push run of ${PUSH_RUN_CALLS.toLocaleString('en')}`, String(listings), `${PUSH_RUN_CALLS} readdir+filter`, listings / PUSH_RUN_CALLS, '1 listing', listings === 1)
    report('  run time (look-ups only, 8 at once)', `${(runMs / 1000).toFixed(2)} s`, '', null)

    // Today's directory: a new file every 200 ms while look-ups run back to back for 3 s.
    listings = 0
    const today = new DirectoryIndex({ maxEntries: 1_000_000, onListing: () => listings++ })
    let added = 0
    const writer = setInterval(() => closeSync(openSync(join(dir, fileName(FILES + added++)), 'w')), 200)
    const busy: number[] = []
    const until = performance.now() + 3_000
    let lookups = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (performance.now() < until) {
          const t1 = performance.now()
          await lookUp(today, (lookups++ * 31) % FILES)
          busy.push(performance.now() - t1)
        }
      })
    )
    clearInterval(writer)
    busy.sort((a, b) => a - b)
    report('listings, +1 file / 200 ms for 3 s', `${listings}`, `≤ ${added + 1} (changes)`, listings <= added + 1)
    report(`  ${lookups.toLocaleString('en')} look-ups meanwhile, p95`, `${percentile(busy, 95).toFixed(1)} ms`, '', null)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}
