import { createReadStream, read as readCallback } from 'node:fs'
import { basename } from 'node:path'
import { addAbortSignal, type Readable } from 'node:stream'
import { promisify } from 'node:util'
import type { FastifyBaseLogger } from 'fastify'
import { UpstreamError } from '../../errors.js'
import type { ByteRange, SegmentInfo, SegmentRef, VendorLeg } from '../../recording.js'
import type { MatchPolicy, RecordingProvider } from '../types.js'
import { DirectoryIndex, type ListingReport } from './directory-index.js'
import { RecordPathLookup, type PoolTuning } from './record-path-lookup.js'
import { parseRecordingFileName, sameDialogId, type RecordingFormat } from './recording-file-name.js'
import { closeFile, RecordingsRoot } from './recordings-root.js'

export type EfswitchLog = Pick<FastifyBaseLogger, 'warn' | 'debug'>

export interface EfswitchProviderOptions {
  databaseUrl: string
  recordingsRoot: string
  pathQuery: string
  log: EfswitchLog
  tuning?: Partial<PoolTuning>
  /** EFSWITCH_INDEX_MAX_ENTRIES: file names the directory index keeps over all directories. */
  indexMaxEntries?: number
  /** Told about every directory listing (metrics). */
  onListing?: (report: ListingReport) => void
}

export const DEFAULT_INDEX_MAX_ENTRIES = 500_000

/**
 * Bytes per read of a recording file. Every read is a round trip to libuv's thread pool, and that
 * hand-off, not the copying, is what a relayed file costs: Node's default 64 KiB chunks made the
 * EFSwitch relay spend ~2 CPU-s per GB, 256 KiB about half of that (bench: relay, EFSwitch row).
 * Memory per stream stays bounded: a client that stops reading holds at most three chunks (one read
 * ahead by the file stream, one in the virtual file's buffer, one in the socket's), 768 KiB.
 */
export const FILE_CHUNK_BYTES = 256 * 1024

const read = promisify(readCallback)

/*
 * Files are named after the leg (agent extension and ANI included), so a CX leg may only take a file of
 * its own identity; then the closest start wins however far, since the switch stamps the bridge time
 * while CX stamps its own leg start and the two clocks are not required to agree.
 */
const MATCH_POLICY: MatchPolicy = { requireSameIdentity: true, toleranceMs: Infinity }

interface FoundFile {
  readonly path: string
  readonly agentExtension: string
  readonly ani: string
  readonly start: number
  readonly format: RecordingFormat
}

/**
 * Recordings of a FreeSWITCH/FusionPBX switch. The switch's database names the call's directories: every
 * CDR row of the call (one per channel; a call across midnight has rows in two day directories) has a
 * `record_path`. The legs are the files in them named `<dialogId>:<agentExtension>:<ani>:<startEpochMs>`
 * `.wav` or `.mp3` (one file per leg: hold pauses the same file, so there is nothing to merge), found
 * through a directory index rather than a listing per request. Segment ids are absolute paths.
 *
 * Refusals (a record_path or file outside the recordings root) are logged at warn and make the call
 * look like it has no recordings there: retrieval answers 404, push keeps the leg pending. One bad row
 * must not fail a whole push run, nor hide the files the call's other rows lead to.
 */
export class EfswitchProvider implements RecordingProvider {
  readonly name = 'efswitch' as const
  readonly matchPolicy = MATCH_POLICY
  private readonly lookup: RecordPathLookup
  private readonly root: RecordingsRoot
  private readonly index: DirectoryIndex
  private readonly log: EfswitchLog
  private warnedIndexTooSmall = false

  constructor(options: EfswitchProviderOptions) {
    this.log = options.log
    this.lookup = new RecordPathLookup({
      databaseUrl: options.databaseUrl,
      pathQuery: options.pathQuery,
      ...(options.tuning ? { tuning: options.tuning } : {})
    })
    this.root = new RecordingsRoot(options.recordingsRoot, options.log)
    this.index = new DirectoryIndex({
      maxEntries: options.indexMaxEntries ?? DEFAULT_INDEX_MAX_ENTRIES,
      onListing: (report) => {
        this.reportListing(report)
        options.onListing?.(report)
      }
    })
  }

  async findLegs(dialogId: string, signal?: AbortSignal): Promise<VendorLeg[]> {
    const recordPaths = await this.lookup.recordPaths(dialogId, signal)
    if (recordPaths.length === 0) return []
    signal?.throwIfAborted()
    // Each row's path is confined on its own: one refused path does not hide the others' files.
    const resolved = await Promise.all(recordPaths.map((recordPath) => this.root.resolveDirectory(recordPath, dialogId)))
    const dirs = [...new Set(resolved.filter((dir): dir is string => dir !== null))]
    const found = (await Promise.all(dirs.map((dir) => this.filesIn(dir, dialogId, signal)))).flat()
    return preferWav(found)
      .map((file) => ({
        dialogId,
        agentExtension: file.agentExtension,
        ani: file.ani,
        start: file.start,
        end: null,
        segments: [{ id: file.path }]
      }))
      .sort((a, b) => a.start - b.start || compare(a.segments[0]!.id, b.segments[0]!.id))
  }

  private async filesIn(dir: string, dialogId: string, signal?: AbortSignal): Promise<FoundFile[]> {
    const names = await this.index.namesOf(dir, dialogId, signal)
    const found: FoundFile[] = []
    for (const name of names) {
      const parsed = parseRecordingFileName(name)
      if (parsed === null || !sameDialogId(parsed.dialogId, dialogId)) continue
      // The index may be up to a second old: the entry is checked now (gone, symlink, not a file).
      const path = await this.root.acceptFile(dir, name)
      if (path !== null) found.push({ path, ...parsed })
    }
    return found
  }

  private reportListing(report: ListingReport): void {
    this.log.debug({ vendor: 'efswitch', dir: report.dir, names: report.names, durationMs: report.durationMs }, 'EFSwitch directory listed')
    if (!report.kept && !this.warnedIndexTooSmall) {
      this.warnedIndexTooSmall = true
      this.log.warn(
        { vendor: 'efswitch', dir: report.dir, names: report.names },
        'EFSwitch directory holds more recording names than EFSWITCH_INDEX_MAX_ENTRIES: it is listed again for every look-up'
      )
    }
  }

  async statSegment(segment: SegmentRef, headBytes: number, signal?: AbortSignal): Promise<SegmentInfo> {
    if (!Number.isSafeInteger(headBytes) || headBytes < 1) throw new RangeError(`invalid head length ${headBytes}`)
    signal?.throwIfAborted()
    const { fd, size } = await this.root.openFile(segment.id)
    try {
      const head = Buffer.alloc(Math.min(headBytes, size))
      let filled = 0
      while (filled < head.length) {
        const { bytesRead } = await read(fd, head, filled, head.length - filled, filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      return { size, head: head.subarray(0, filled) }
    } finally {
      await closeFile(fd)
    }
  }

  async openSegment(segment: SegmentRef, range: ByteRange, signal?: AbortSignal): Promise<Readable> {
    signal?.throwIfAborted()
    if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
      throw new RangeError(`invalid byte range ${range.start}-${range.end}`)
    }
    const { fd, size } = await this.root.openFile(segment.id)
    if (range.end >= size) {
      await closeFile(fd)
      // The caller sized the response from statSegment: a shorter file now would end the body early.
      throw new UpstreamError('efswitch', 'recording file changed while it was being read')
    }
    if (signal?.aborted) {
      await closeFile(fd)
      throw signal.reason
    }
    // The stream owns the descriptor from here: it closes it when it ends or is destroyed.
    const stream = createReadStream('', { fd, start: range.start, end: range.end, autoClose: true, highWaterMark: FILE_CHUNK_BYTES })
    return signal ? addAbortSignal(signal, stream) : stream
  }

  /** Segment ids are file paths on our disk; clients get only the file name. */
  describeSegment(segment: SegmentRef): string {
    return basename(segment.id)
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.lookup.ping(signal)
    await this.root.realRoot()
  }

  async close(): Promise<void> {
    await this.lookup.close()
  }
}

/**
 * A switch that records WAV and converts to MP3 has both files of a leg for a while: one leg, served
 * from the WAV (the original, and servable today).
 */
function preferWav(files: readonly FoundFile[]): FoundFile[] {
  const byLeg = new Map<string, FoundFile>()
  for (const file of files) {
    const key = `${file.agentExtension}:${file.ani}:${file.start}`
    const seen = byLeg.get(key)
    if (seen === undefined || (seen.format === 'mp3' && file.format === 'wav')) byLeg.set(key, file)
  }
  return [...byLeg.values()]
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
