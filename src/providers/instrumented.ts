import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { errorCode } from '../errors.js'
import type { Metrics } from '../metrics.js'
import type { ByteRange, SegmentInfo, SegmentRef, VendorLeg, VendorName } from '../recording.js'
import type { MatchPolicy, RecordingProvider } from './types.js'

type Operation = 'findLegs' | 'statSegment' | 'openSegment' | 'ping'

const LABEL = /^[A-Za-z0-9_]{1,64}$/

/** A stable, low-cardinality label for an error: its named code (GW_ERR_*, UND_ERR_*, ECONNREFUSED…) or class. */
function errorLabel(err: unknown): string {
  const code = errorCode(err)
  if (code !== undefined && LABEL.test(code)) return code
  const name = (err as { name?: unknown } | null)?.name
  return typeof name === 'string' && LABEL.test(name) ? name : 'unknown'
}

/**
 * A RecordingProvider that records the latency and the failures of every call to the vendor into
 * Metrics, by vendor and operation. Calls the caller aborted (the client went away) are not counted as
 * upstream errors: the vendor did nothing wrong. For openSegment the latency is the time to the first
 * byte being available (the stream opening); a stream that fails later counts as an error too.
 */
export class InstrumentedProvider implements RecordingProvider {
  readonly name: VendorName
  readonly matchPolicy: MatchPolicy
  readonly #inner: RecordingProvider
  readonly #metrics: Metrics

  constructor(inner: RecordingProvider, metrics: Metrics) {
    this.#inner = inner
    this.#metrics = metrics
    this.name = inner.name
    this.matchPolicy = inner.matchPolicy
  }

  findLegs(dialogId: string, signal?: AbortSignal): Promise<VendorLeg[]> {
    return this.#timed('findLegs', signal, () => this.#inner.findLegs(dialogId, signal))
  }

  statSegment(segment: SegmentRef, headBytes: number, signal?: AbortSignal): Promise<SegmentInfo> {
    return this.#timed('statSegment', signal, () => this.#inner.statSegment(segment, headBytes, signal))
  }

  async openSegment(segment: SegmentRef, range: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const stream = await this.#timed('openSegment', signal, () => this.#inner.openSegment(segment, range, signal))
    stream.once('error', (err: unknown) => {
      if (signal?.aborted !== true) this.#metrics.upstreamErrors.inc({ vendor: this.name, operation: 'openSegment', code: errorLabel(err) })
    })
    return stream
  }

  describeSegment(segment: SegmentRef): string {
    return this.#inner.describeSegment(segment)
  }

  ping(signal?: AbortSignal): Promise<void> {
    return this.#timed('ping', signal, () => this.#inner.ping(signal))
  }

  close(): Promise<void> {
    return this.#inner.close()
  }

  async #timed<T>(operation: Operation, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const started = performance.now()
    const labels = { vendor: this.name, operation }
    try {
      const result = await call()
      this.#metrics.upstreamDuration.observe(labels, (performance.now() - started) / 1000)
      return result
    } catch (err) {
      if (signal?.aborted !== true) {
        this.#metrics.upstreamDuration.observe(labels, (performance.now() - started) / 1000)
        this.#metrics.upstreamErrors.inc({ ...labels, code: errorLabel(err) })
      }
      throw err
    }
  }
}
