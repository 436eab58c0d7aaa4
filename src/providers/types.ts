import type { Readable } from 'node:stream'
import type { ByteRange, SegmentInfo, SegmentRef, VendorLeg, VendorName } from '../recording.js'

/**
 * How CX legs are paired with this vendor's legs. Eleveo matches on time (nearest start within the
 * configured tolerance, same agent preferred); EFSwitch names files after the leg, so only files with the
 * same agent extension and ANI are candidates and the closest start wins whatever the distance.
 */
export interface MatchPolicy {
  readonly requireSameIdentity: boolean
  /** Null: use the configured MATCH_TOLERANCE_MS. */
  readonly toleranceMs: number | null
}

export interface RecordingProvider {
  readonly name: VendorName
  readonly matchPolicy: MatchPolicy
  /** All recorded legs of one call, sorted by start, HOLD-split legs already merged. Empty if none. */
  findLegs(dialogId: string, signal?: AbortSignal): Promise<VendorLeg[]>
  /**
   * Size and the first `headBytes` bytes of one segment (to tell WAV from MP3 and read its header),
   * never buffering more. The caller decides how many: it starts small and asks again for more when a
   * WAV's chunks before `data` reach further (see src/audio/wav/layout-probe.ts); an MP3's further
   * bytes (its tail, a first frame after a large tag) it reads with openSegment ranges.
   */
  statSegment(segment: SegmentRef, headBytes: number, signal?: AbortSignal): Promise<SegmentInfo>
  /** The bytes of one segment in an inclusive range; the stream must end after exactly that many bytes. */
  openSegment(segment: SegmentRef, range: ByteRange, signal?: AbortSignal): Promise<Readable>
  /**
   * How a segment is named in logs and client-visible messages: only what a client may see (EFSwitch's
   * ids are paths on our disk, so it gives the file name).
   */
  describeSegment(segment: SegmentRef): string
  /** Cheap reachability probe for readiness checks; throws when the vendor is not reachable. */
  ping(signal?: AbortSignal): Promise<void>
  /** Release pools and connections. */
  close(): Promise<void>
}
