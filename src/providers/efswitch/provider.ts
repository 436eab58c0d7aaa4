import { createReadStream } from 'node:fs'
import { basename } from 'node:path'
import { addAbortSignal, type Readable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { UpstreamError } from '../../errors.js'
import type { ByteRange, SegmentInfo, SegmentRef, VendorLeg } from '../../recording.js'
import type { MatchPolicy, RecordingProvider } from '../types.js'
import { RecordPathLookup, type PoolTuning } from './record-path-lookup.js'
import { parseRecordingFileName, sameDialogId } from './recording-file-name.js'
import { RecordingsRoot } from './recordings-root.js'

export type EfswitchLog = Pick<FastifyBaseLogger, 'warn' | 'debug'>

export interface EfswitchProviderOptions {
  databaseUrl: string
  recordingsRoot: string
  pathQuery: string
  log: EfswitchLog
  tuning?: Partial<PoolTuning>
}

/*
 * Files are named after the leg (agent extension and ANI included), so a CX leg may only take a file of
 * its own identity; then the closest start wins however far, since the switch stamps the bridge time
 * while CX stamps its own leg start and the two clocks are not required to agree.
 */
const MATCH_POLICY: MatchPolicy = { requireSameIdentity: true, toleranceMs: Infinity }

/**
 * Recordings of a FreeSWITCH/FusionPBX switch: the call's directory comes from the switch's database,
 * the legs are the files in it named `<dialogId>:<agentExtension>:<ani>:<startEpochMs>.wav` (one file
 * per leg: hold pauses the same file, so there is nothing to merge). Segment ids are absolute paths.
 *
 * Refusals (a record_path or file outside the recordings root) are logged at warn and make the call
 * look like it has no recordings: retrieval answers 404, push keeps the leg pending. One bad row must
 * not fail a whole push run.
 */
export class EfswitchProvider implements RecordingProvider {
  readonly name = 'efswitch' as const
  readonly matchPolicy = MATCH_POLICY
  private readonly lookup: RecordPathLookup
  private readonly root: RecordingsRoot

  constructor(options: EfswitchProviderOptions) {
    this.lookup = new RecordPathLookup({
      databaseUrl: options.databaseUrl,
      pathQuery: options.pathQuery,
      ...(options.tuning ? { tuning: options.tuning } : {})
    })
    this.root = new RecordingsRoot(options.recordingsRoot, options.log)
  }

  async findLegs(dialogId: string, signal?: AbortSignal): Promise<VendorLeg[]> {
    const recordPath = await this.lookup.recordPath(dialogId, signal)
    if (recordPath === null) return []
    signal?.throwIfAborted()
    const dir = await this.root.resolveDirectory(recordPath, dialogId)
    if (dir === null) return []
    signal?.throwIfAborted()

    const files = await this.root.listFiles(dir, (name) => {
      const parsed = parseRecordingFileName(name)
      return parsed !== null && sameDialogId(parsed.dialogId, dialogId)
    })
    const legs: VendorLeg[] = []
    for (const path of files) {
      const parsed = parseRecordingFileName(basename(path))
      if (parsed === null) continue
      legs.push({
        dialogId,
        agentExtension: parsed.agentExtension,
        ani: parsed.ani,
        start: parsed.start,
        end: null,
        segments: [{ id: path }]
      })
    }
    return legs.sort((a, b) => a.start - b.start || compare(a.segments[0]!.id, b.segments[0]!.id))
  }

  async statSegment(segment: SegmentRef, headBytes: number, signal?: AbortSignal): Promise<SegmentInfo> {
    if (!Number.isSafeInteger(headBytes) || headBytes < 1) throw new RangeError(`invalid head length ${headBytes}`)
    signal?.throwIfAborted()
    const { handle, size } = await this.root.openFile(segment.id)
    try {
      const head = Buffer.alloc(Math.min(headBytes, size))
      let filled = 0
      while (filled < head.length) {
        const { bytesRead } = await handle.read(head, filled, head.length - filled, filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      return { size, head: head.subarray(0, filled) }
    } finally {
      await handle.close()
    }
  }

  async openSegment(segment: SegmentRef, range: ByteRange, signal?: AbortSignal): Promise<Readable> {
    signal?.throwIfAborted()
    if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
      throw new RangeError(`invalid byte range ${range.start}-${range.end}`)
    }
    const { handle, size } = await this.root.openFile(segment.id)
    if (range.end >= size) {
      await handle.close()
      // The caller sized the response from statSegment: a shorter file now would end the body early.
      throw new UpstreamError('efswitch', 'recording file changed while it was being read')
    }
    if (signal?.aborted) {
      await handle.close()
      throw signal.reason
    }
    const stream = createReadStream('', { fd: handle, start: range.start, end: range.end, autoClose: true })
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

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
