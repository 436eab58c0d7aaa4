import { readdirSync, readFileSync } from 'node:fs'
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { errorCode } from '../errors.js'

/*
 * The process's own load, sampled once a second: event-loop delay, heap, RSS and open file descriptors.
 * Written here rather than taken from @fastify/under-pressure because its sampler calls
 * process.memoryUsage() unguarded in a timer: reading RSS opens /proc/self/stat, and with the file
 * descriptors used up that threw EMFILE uncaught and ended the process. Every read below that can fail
 * is guarded, and a failure for want of descriptors is itself the pressure it reports.
 */

export interface PressureLimits {
  /** 0 switches a limit off. */
  readonly maxEventLoopDelayMs: number
  readonly maxHeapUsedBytes: number
  readonly maxRssBytes: number
}

export interface PressureSample {
  /** Mean event-loop delay over the last interval, beyond the histogram's resolution, in ms. */
  eventLoopDelay: number
  heapUsed: number
  rssBytes: number
  /** Open descriptors, or null where /proc/self/fd cannot be read (not Linux). */
  openFiles: number | null
  /** The soft RLIMIT_NOFILE, or null when unknown or unlimited. */
  fileLimit: number | null
  /** True while descriptors are short: near the limit, or an EMFILE/ENFILE was met since the last sample. */
  descriptorsShort: boolean
}

export type PressureKind = 'eventLoopDelay' | 'heapUsedBytes' | 'rssBytes' | 'fileDescriptors'

/** Past this share of the descriptor limit new work is refused, keeping the rest for what runs. */
export const FD_SHORT_RATIO = 0.9
const RESOLUTION_MS = 10
const SHORT_OF_DESCRIPTORS = new Set(['EMFILE', 'ENFILE'])

/** True for the errors that mean the process (or system) has no file descriptor left. */
export function isDescriptorShortage(err: unknown): boolean {
  const code = errorCode(err)
  return code !== undefined && SHORT_OF_DESCRIPTORS.has(code)
}

/** The soft "Max open files" of this process from /proc/self/limits; null when unknown or unlimited. */
function readFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'))
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
    return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : null
  } catch {
    return null
  }
}

/** Why the process is overloaded, naming each limit it is over (0 = off) and a shortage of descriptors. */
export function describePressure(
  usage: Pick<PressureSample, 'eventLoopDelay' | 'heapUsed' | 'rssBytes'> & Partial<Pick<PressureSample, 'openFiles' | 'fileLimit' | 'descriptorsShort'>>,
  limits: PressureLimits
): string {
  const over: string[] = []
  if (usage.descriptorsShort === true) {
    const { openFiles, fileLimit } = usage
    over.push(
      openFiles != null && fileLimit != null
        ? `file descriptors ${openFiles} open of ${fileLimit} (refusing new work from ${Math.floor(fileLimit * FD_SHORT_RATIO)})`
        : 'file descriptors exhausted (EMFILE/ENFILE)'
    )
  }
  if (limits.maxEventLoopDelayMs > 0 && usage.eventLoopDelay > limits.maxEventLoopDelayMs) {
    // Infinity: the delay monitor got no sample at all in a 1 s sampling, the loop was blocked throughout.
    const delay = Number.isFinite(usage.eventLoopDelay) ? `delay ${Math.round(usage.eventLoopDelay)} ms` : 'blocked for a whole 1 s sample'
    over.push(`event loop ${delay} > MAX_EVENT_LOOP_DELAY_MS ${limits.maxEventLoopDelayMs}`)
  }
  if (limits.maxHeapUsedBytes > 0 && usage.heapUsed > limits.maxHeapUsedBytes) {
    over.push(`heap used ${usage.heapUsed} B > MAX_HEAP_USED_BYTES ${limits.maxHeapUsedBytes}`)
  }
  if (limits.maxRssBytes > 0 && usage.rssBytes > limits.maxRssBytes) over.push(`RSS ${usage.rssBytes} B > MAX_RSS_BYTES ${limits.maxRssBytes}`)
  return over.length > 0 ? `over its limits: ${over.join('; ')}` : 'under pressure'
}

export class PressureMonitor {
  readonly #limits: PressureLimits
  readonly #intervalMs: number
  readonly #histogram: IntervalHistogram
  readonly #fileLimit: number | null
  #timer: NodeJS.Timeout | null = null
  #shortageSeen = false
  readonly #sample: PressureSample

  constructor(limits: PressureLimits, opts: { sampleIntervalMs?: number } = {}) {
    this.#limits = limits
    this.#intervalMs = opts.sampleIntervalMs ?? 1000
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
    this.#fileLimit = readFileLimit()
    this.#sample = { eventLoopDelay: 0, heapUsed: 0, rssBytes: 0, openFiles: null, fileLimit: this.#fileLimit, descriptorsShort: false }
  }

  start(): void {
    if (this.#timer !== null) return
    this.#histogram.enable()
    this.#timer = setInterval(() => this.#update(), this.#intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#histogram.disable()
  }

  get sample(): Readonly<PressureSample> {
    return this.#sample
  }

  /** An operation failed with EMFILE/ENFILE: shed load from now until a sample finds descriptors again. */
  noteDescriptorShortage(): void {
    this.#shortageSeen = true
    this.#sample.descriptorsShort = true
  }

  /** The first limit the last sample is over, or null. */
  overLimit(): PressureKind | null {
    const s = this.#sample
    const l = this.#limits
    if (s.descriptorsShort) return 'fileDescriptors'
    if (l.maxEventLoopDelayMs > 0 && s.eventLoopDelay > l.maxEventLoopDelayMs) return 'eventLoopDelay'
    if (l.maxHeapUsedBytes > 0 && s.heapUsed > l.maxHeapUsedBytes) return 'heapUsedBytes'
    if (l.maxRssBytes > 0 && s.rssBytes > l.maxRssBytes) return 'rssBytes'
    return null
  }

  /** Why the process is overloaded, naming each limit it is over (for readiness and logs). */
  describe(): string {
    return describePressure(this.#sample, this.#limits)
  }

  #update(): void {
    const s = this.#sample
    const mean = this.#histogram.mean / 1e6 - RESOLUTION_MS
    // No sample at all in an interval means the loop never turned: as delayed as it gets.
    s.eventLoopDelay = Number.isNaN(mean) ? Infinity : Math.max(0, mean)
    this.#histogram.reset()
    // The V8 heap is read without a file; RSS and the descriptor count need one each.
    s.heapUsed = getHeapStatistics().used_heap_size
    let short = this.#shortageSeen
    this.#shortageSeen = false
    try {
      s.rssBytes = process.memoryUsage.rss()
    } catch (err) {
      // Whatever failed, a timer must not throw: the last figure stands.
      if (isDescriptorShortage(err)) short = true
    }
    try {
      s.openFiles = readdirSync('/proc/self/fd').length
    } catch (err) {
      if (isDescriptorShortage(err)) short = true
      s.openFiles = null
    }
    if (s.openFiles !== null && this.#fileLimit !== null && s.openFiles >= this.#fileLimit * FD_SHORT_RATIO) short = true
    s.descriptorsShort = short
  }
}
