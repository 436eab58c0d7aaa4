/*
 * The nouns every floor shares: what a recorded leg is, where its audio lives, which bytes are meant.
 * Pure types: nothing here knows Fastify, HTTP, a database or the file system.
 */

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
  /** Total byte size of the stored file (WAV or MP3). */
  readonly size: number
  /** The first bytes of the file: as many as asked for, or the whole file when it is shorter. */
  readonly head: Buffer
}

/** Inclusive byte range, like HTTP's `bytes=start-end`. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}
