import type { Readable } from 'node:stream'

export type VendorName = 'eleveo' | 'efswitch'

/**
 * One stored file (or upstream object) holding part of a leg's audio. Opaque to everything but the
 * provider that produced it: Eleveo puts its recording id here, EFSwitch an absolute file path.
 */
export interface SegmentRef {
  readonly id: string
}

/** A recorded leg as the vendor knows it, after HOLD-split parts have been merged. */
export interface VendorLeg {
  readonly dialogId: string
  readonly agentExtension: string
  readonly ani: string
  /** Epoch milliseconds. */
  readonly start: number
  /** Epoch milliseconds; null when the vendor does not know it (still recording, or EFSwitch files). */
  readonly end: number | null
  /** In playback order. A leg that was never split has exactly one. */
  readonly segments: readonly SegmentRef[]
}

export interface SegmentInfo {
  /** Total byte size of the stored WAV file. */
  readonly size: number
  /** The first bytes of the file: as many as asked for, or the whole file when it is shorter. */
  readonly head: Buffer
}

/** Inclusive byte range, like HTTP's `bytes=start-end`. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

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
   * Size and the first `headBytes` bytes (for the RIFF header) of one segment, never buffering more.
   * The caller decides how many: it starts small and asks again for more when the chunks before
   * `data` reach further (see src/wav/layout-probe.ts).
   */
  statSegment(segment: SegmentRef, headBytes: number, signal?: AbortSignal): Promise<SegmentInfo>
  /** The bytes of one segment in an inclusive range; the stream must end after exactly that many bytes. */
  openSegment(segment: SegmentRef, range: ByteRange, signal?: AbortSignal): Promise<Readable>
  /** Cheap reachability probe for readiness checks; throws when the vendor is not reachable. */
  ping(signal?: AbortSignal): Promise<void>
  /** Release pools and connections. */
  close(): Promise<void>
}
