import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { Mp3ParseError } from '../audio/mp3/frame-header.js'
import { streamVirtualFile, type VirtualFile, type VirtualFileReadable } from '../audio/virtual-file.js'
import { WavParseError } from '../audio/wav/riff.js'
import { BadMp3Error, BadWavError, LegNotFoundError, RecordingTooLargeError, TooManySegmentsError } from '../errors.js'
import { forEachConcurrent } from '../jobs/limiter.js'
import type { LegKey } from '../legs/leg-id.js'
import type { RecordingProvider } from '../providers/types.js'
import type { ByteRange, SegmentRef, VendorLeg } from '../recording.js'
import { chooseClosestLeg } from './closest-leg.js'
import { layoutSignature, planLegAudio, probeSegmentLayout, type SegmentLayout, type SegmentReader } from './leg-audio.js'
import { DEFAULT_CACHE_MAX_BYTES, LegCache } from './leg-cache.js'
import { providerSegmentReader } from './segment-reader.js'

/** A leg ready to be served: everything the response headers need, nothing of the audio yet. */
export interface ResolvedRecording {
  readonly leg: VendorLeg
  /** The merged file: WAV or MP3, as the segments are. */
  readonly file: VirtualFile
  readonly contentType: 'audio/wav' | 'audio/mpeg'
  readonly extension: 'wav' | 'mp3'
  /** Strong entity tag: the same segments with the same layouts give the same bytes. */
  readonly etag: string
}

export interface RecordingResolverOptions {
  /** LEG_CACHE_TTL_MS: how long leg listings and segment layouts are reused; 0 disables both caches. */
  readonly ttlMs: number
  /** Count bounds besides the byte budget (see LegCacheOptions.max: unset, the bytes bound the count). */
  readonly maxCachedCalls?: number
  readonly maxCachedSegments?: number
  /**
   * A cached listing whose closest leg starts further than this from the requested start (or that has
   * no candidate at all) is looked up again once: the link may be for a leg recorded after the listing
   * was cached, and serving another leg's audio would be worse than one more upstream call.
   */
  readonly recheckBeyondMs?: number
  /** MAX_SEGMENTS_PER_LEG: a leg split into more parts is refused (502) before any part is asked for. */
  readonly maxSegmentsPerLeg?: number
  /** MAX_RECORDING_BYTES: a stored part, or the merged file, claiming more is refused (502). */
  readonly maxRecordingBytes?: number
  /** LEG_CACHE_MAX_BYTES: estimated bytes each cache (listings, layouts) may hold. */
  readonly maxCachedBytes?: number
}

/** Segment layouts read at once for one leg: enough to hide round trips, never a burst of thousands. */
export const SEGMENT_PROBE_CONCURRENCY = 8
export const DEFAULT_MAX_SEGMENTS_PER_LEG = 1000
export const DEFAULT_MAX_RECORDING_BYTES = 16 * 1024 ** 3

/**
 * From a leg ID to a virtual file: look up the call's legs (cached, shared), pick the closest leg, read
 * every segment's layout (WAV or MP3, told from its first bytes; in parallel; cached), plan the merged
 * file. Any problem (no leg, unreadable audio, mismatched formats) surfaces here, before a response
 * header is written.
 *
 * Layouts are cached beside the legs because a player seeking through a recording sends one Range
 * request after another: with both caches warm, a request costs one upstream round trip (the audio).
 */
export class RecordingResolver {
  readonly #legs: LegCache
  readonly #provider: RecordingProvider
  readonly #layouts: LRUCache<string, SegmentLayout> | null
  readonly #recheckBeyondMs: number
  readonly #maxSegments: number
  readonly #maxBytes: number
  /**
   * The last plan of each cached leg with the layouts it was made from: a Range request that finds the
   * same layout objects in the cache gets the same file and ETag without planning and hashing again.
   * Keyed by the listing's own leg objects, so it lives only as long as the cached listing.
   */
  readonly #planned = new WeakMap<VendorLeg, { layouts: readonly SegmentLayout[]; recording: ResolvedRecording }>()

  constructor(provider: RecordingProvider, opts: RecordingResolverOptions) {
    this.#provider = provider
    this.#recheckBeyondMs = opts.recheckBeyondMs ?? 5000
    this.#maxSegments = opts.maxSegmentsPerLeg ?? DEFAULT_MAX_SEGMENTS_PER_LEG
    this.#maxBytes = opts.maxRecordingBytes ?? DEFAULT_MAX_RECORDING_BYTES
    const maxBytes = opts.maxCachedBytes ?? DEFAULT_CACHE_MAX_BYTES
    this.#legs = new LegCache(provider, { ttlMs: opts.ttlMs, maxBytes, ...(opts.maxCachedCalls === undefined ? {} : { max: opts.maxCachedCalls }) })
    this.#layouts =
      opts.ttlMs > 0
        ? new LRUCache<string, SegmentLayout>({
            ...(opts.maxCachedSegments === undefined ? {} : { max: opts.maxCachedSegments }),
            ttl: opts.ttlMs,
            maxSize: maxBytes,
            // Object overheads plus a WAV's fmt body, the only part whose size the stored file decides.
            sizeCalculation: (l, id) => 256 + 2 * id.length + (l.container === 'wav' ? l.layout.format.fmtBody.length : 0)
          })
        : null
  }

  async resolve(key: LegKey, signal: AbortSignal): Promise<ResolvedRecording> {
    const wasCached = this.#legs.has(key.dialogId)
    let legs = await this.#legs.findLegs(key.dialogId, signal)
    let leg = this.#closest(legs, key)
    if (wasCached && (leg === undefined || Math.abs(leg.start - key.startTime) > this.#recheckBeyondMs)) {
      this.#legs.invalidate(key.dialogId)
      legs = await this.#legs.findLegs(key.dialogId, signal)
      leg = this.#closest(legs, key)
    }
    if (leg === undefined) {
      throw new LegNotFoundError(
        legs.length === 0
          ? `No recording exists for dialogId ${key.dialogId} at ${this.#provider.name}`
          : `No recording of agent ${key.agentExtension} with ani ${JSON.stringify(key.ani)} exists for dialogId ${key.dialogId} at ${this.#provider.name}`
      )
    }
    const layouts = this.#cachedLayouts(leg) ?? (await this.#legLayouts(leg, signal))
    const planned = this.#planned.get(leg)
    if (planned !== undefined && sameLayouts(planned.layouts, layouts)) return planned.recording
    const audio = planLegAudio(layouts)
    if (audio.file.size > this.#maxBytes) {
      throw new RecordingTooLargeError(this.#provider.name, `the merged recording would be ${audio.file.size} bytes, more than MAX_RECORDING_BYTES (${this.#maxBytes})`)
    }
    const recording: ResolvedRecording = { leg, ...audio, etag: entityTag(this.#provider.name, leg.segments, layouts, audio.file) }
    this.#planned.set(leg, { layouts, recording })
    return recording
  }

  /** Every segment's layout when all are cached (a player seeking through a leg), else null. */
  #cachedLayouts(leg: VendorLeg): SegmentLayout[] | null {
    if (this.#layouts === null || leg.segments.length > this.#maxSegments) return null
    const layouts: SegmentLayout[] = []
    for (const segment of leg.segments) {
      const layout = this.#layouts.get(segment.id)
      if (layout === undefined) return null
      layouts.push(layout)
    }
    return layouts
  }

  #closest(legs: readonly VendorLeg[], key: LegKey): VendorLeg | undefined {
    return chooseClosestLeg(legs, key, this.#provider.matchPolicy.requireSameIdentity)
  }

  /** The bytes of `range` (virtual offsets, inclusive); destroying the stream aborts its upstream requests. */
  stream(rec: ResolvedRecording, range: ByteRange, signal: AbortSignal): VirtualFileReadable {
    const segments = rec.leg.segments
    return streamVirtualFile(
      rec.file,
      range,
      (index, fileRange, segmentSignal) => {
        const segment = segments[index]
        if (segment === undefined) throw new RangeError(`segment ${index} of ${segments.length} does not exist`)
        return this.#provider.openSegment(segment, fileRange, segmentSignal)
      },
      signal
    )
  }

  /** Every segment's layout, SEGMENT_PROBE_CONCURRENCY at a time; the first failure stops the rest. */
  async #legLayouts(leg: VendorLeg, signal: AbortSignal): Promise<SegmentLayout[]> {
    const count = leg.segments.length
    if (count > this.#maxSegments) {
      throw new TooManySegmentsError(
        this.#provider.name,
        `the leg of agent ${leg.agentExtension} is split into ${count} parts, more than MAX_SEGMENTS_PER_LEG (${this.#maxSegments})`
      )
    }
    const layouts = new Array<SegmentLayout>(count)
    await forEachConcurrent(leg.segments.keys(), SEGMENT_PROBE_CONCURRENCY, async (i) => {
      layouts[i] = await this.#layout(leg.segments[i] as SegmentRef, signal)
    })
    return layouts
  }

  /** The provider's reads of one segment, refusing a size no recording can have before anything is planned from it. */
  #sizeCheckedReader(segment: SegmentRef, signal: AbortSignal): SegmentReader {
    const reader = providerSegmentReader(this.#provider, segment, signal)
    return {
      ...reader,
      readHead: async (bytes) => {
        const info = await reader.readHead(bytes)
        if (!Number.isSafeInteger(info.size) || info.size > this.#maxBytes) {
          throw new RecordingTooLargeError(
            this.#provider.name,
            `segment ${this.#provider.describeSegment(segment)} claims ${info.size} bytes, more than MAX_RECORDING_BYTES (${this.#maxBytes})`
          )
        }
        return info
      }
    }
  }

  async #layout(segment: SegmentRef, signal: AbortSignal): Promise<SegmentLayout> {
    const cached = this.#layouts?.get(segment.id)
    if (cached !== undefined) return cached
    let layout: SegmentLayout
    try {
      layout = await probeSegmentLayout(this.#sizeCheckedReader(segment, signal))
    } catch (err) {
      const where = `segment ${this.#provider.describeSegment(segment)}`
      if (err instanceof WavParseError) throw new BadWavError(this.#provider.name, `${where}: ${err.message}`, { cause: err })
      if (err instanceof Mp3ParseError) throw new BadMp3Error(this.#provider.name, `${where}: ${err.message}`, { cause: err })
      throw err
    }
    this.#layouts?.set(segment.id, layout)
    return layout
  }
}

function sameLayouts(a: readonly SegmentLayout[], b: readonly SegmentLayout[]): boolean {
  return a.length === b.length && a.every((layout, i) => layout === b[i])
}

function entityTag(vendor: string, segments: readonly SegmentRef[], layouts: readonly SegmentLayout[], file: VirtualFile): string {
  const hash = createHash('sha256').update(vendor).update('\0').update(String(file.size))
  segments.forEach((segment, i) => {
    hash.update('\0').update(segment.id).update('\0').update(layoutSignature(layouts[i] as SegmentLayout))
  })
  return `"${hash.digest('base64url').slice(0, 27)}"`
}
