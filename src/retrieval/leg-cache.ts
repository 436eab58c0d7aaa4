import { LRUCache } from 'lru-cache'
import type { VendorLeg } from '../recording.js'
import type { RecordingProvider } from '../providers/types.js'

export interface LegCacheOptions {
  /** How long a look-up stays fresh; 0 disables caching (concurrent look-ups are still shared). */
  readonly ttlMs: number
  /**
   * Bound on cached calls besides the bytes. Unset by default: maxBytes already bounds the count (every
   * listing counts at least 64 bytes), and lru-cache allocates its tables for `max` entries up front,
   * which cost start-up 17 ms and idle memory a few MB for the default 50,000.
   */
  readonly max?: number
  /** Bound on the estimated bytes of all cached listings (see listingBytes): a call may have thousands of parts. */
  readonly maxBytes?: number
}

export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024

/** A listing's memory, roughly: object overheads plus its ids (UTF-16 in V8 strings at worst). */
export function listingBytes(legs: readonly VendorLeg[]): number {
  let bytes = 64
  for (const leg of legs) {
    bytes += 160 + 2 * (leg.dialogId.length + leg.agentExtension.length + leg.ani.length)
    for (const segment of leg.segments) bytes += 64 + 2 * segment.id.length
  }
  return bytes
}

interface InFlight {
  readonly promise: Promise<VendorLeg[]>
  readonly controller: AbortController
  waiters: number
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError')
}

/**
 * Remembers the legs of recently asked-about calls. A recording is usually fetched several times in a
 * row (playback, then seeking with Range requests), and each fetch starts with the same look-up.
 *
 * Concurrent look-ups of one dialogId share one upstream call. That call runs under its own abort
 * controller: one caller giving up does not fail the others; only when every caller has given up is
 * the upstream call aborted. Failures are not cached, so the next request tries again.
 */
export class LegCache {
  readonly #provider: Pick<RecordingProvider, 'findLegs'>
  readonly #cache: LRUCache<string, VendorLeg[]> | null
  readonly #inFlight = new Map<string, InFlight>()

  constructor(provider: Pick<RecordingProvider, 'findLegs'>, opts: LegCacheOptions) {
    this.#provider = provider
    // lru-cache reads ttl 0 as "never expires", the opposite of what LEG_CACHE_TTL_MS=0 means.
    this.#cache =
      opts.ttlMs > 0
        ? new LRUCache<string, VendorLeg[]>({
            ...(opts.max === undefined ? {} : { max: opts.max }),
            ttl: opts.ttlMs,
            maxSize: opts.maxBytes ?? DEFAULT_CACHE_MAX_BYTES,
            // A listing larger than the whole budget is simply not kept.
            sizeCalculation: listingBytes
          })
        : null
  }

  async findLegs(dialogId: string, signal?: AbortSignal): Promise<VendorLeg[]> {
    signal?.throwIfAborted()
    const cached = this.#cache?.get(dialogId)
    if (cached !== undefined) return cached

    let flight = this.#inFlight.get(dialogId)
    if (flight === undefined) flight = this.#start(dialogId)
    flight.waiters++
    if (signal === undefined) return flight.promise
    return this.#waitOrAbort(dialogId, flight, signal)
  }

  /** True when a fresh listing of this call is cached (the next findLegs will not ask upstream). */
  has(dialogId: string): boolean {
    return this.#cache?.has(dialogId) ?? false
  }

  /**
   * Forgets one call. The resolver calls it when a cached listing has no leg close enough to the one
   * asked for: that leg may have been recorded after the listing was cached.
   */
  invalidate(dialogId: string): void {
    this.#cache?.delete(dialogId)
  }

  #start(dialogId: string): InFlight {
    const controller = new AbortController()
    const promise = this.#provider.findLegs(dialogId, controller.signal).then(
      (legs) => {
        if (this.#inFlight.get(dialogId) === flight) {
          this.#inFlight.delete(dialogId)
          this.#cache?.set(dialogId, legs)
        }
        return legs
      },
      (err: unknown) => {
        if (this.#inFlight.get(dialogId) === flight) this.#inFlight.delete(dialogId)
        throw err
      }
    )
    // A shared call whose callers all left may still reject; nobody is waiting for that rejection.
    promise.catch(() => undefined)
    const flight: InFlight = { promise, controller, waiters: 0 }
    this.#inFlight.set(dialogId, flight)
    return flight
  }

  #waitOrAbort(dialogId: string, flight: InFlight, signal: AbortSignal): Promise<VendorLeg[]> {
    return new Promise<VendorLeg[]>((resolve, reject) => {
      const onAbort = (): void => {
        reject(abortError(signal))
        flight.waiters--
        if (flight.waiters === 0) {
          // Nobody wants the answer any more: stop the upstream call, and let the next caller start afresh.
          if (this.#inFlight.get(dialogId) === flight) this.#inFlight.delete(dialogId)
          flight.controller.abort()
        }
      }
      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      flight.promise.then(
        (legs) => {
          signal.removeEventListener('abort', onAbort)
          resolve(legs)
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        }
      )
    })
  }
}
