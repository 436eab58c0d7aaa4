import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { PushStateView, StateStore } from './state/types.js'

/**
 * The service's Prometheus metrics. One registry per app instance (not prom-client's global one) so
 * that several apps in one process, as in tests, do not share or clash on counters.
 */
export class Metrics {
  readonly registry = new Registry()

  readonly httpRequests = new Counter({
    name: 'gateway_http_requests_total',
    help: 'HTTP requests answered, by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry]
  })

  readonly httpDuration = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (to the end of the body for streams), by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry]
  })

  readonly bytesStreamed = new Counter({
    name: 'gateway_recording_bytes_streamed_total',
    help: 'Audio bytes sent to clients, by vendor',
    labelNames: ['vendor'] as const,
    registers: [this.registry]
  })

  readonly upstreamDuration = new Histogram({
    name: 'gateway_upstream_request_duration_seconds',
    help: 'Latency of calls to the recording system, by vendor and operation',
    labelNames: ['vendor', 'operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry]
  })

  readonly upstreamErrors = new Counter({
    name: 'gateway_upstream_errors_total',
    help: 'Failed calls to the recording system, by vendor, operation and error code',
    labelNames: ['vendor', 'operation', 'code'] as const,
    registers: [this.registry]
  })

  readonly pushRuns = new Counter({
    name: 'gateway_push_runs_total',
    help: 'Push job runs, by trigger and final status',
    labelNames: ['trigger', 'status'] as const,
    registers: [this.registry]
  })

  readonly linksPushed = new Counter({
    name: 'gateway_links_pushed_total',
    help: 'Recording links accepted by CX',
    registers: [this.registry]
  })

  readonly linksFailed = new Counter({
    name: 'gateway_links_failed_total',
    help: 'Recording links CX refused (4xx) or that could not be formed',
    registers: [this.registry]
  })

  readonly efswitchListings = new Counter({
    name: 'gateway_efswitch_directory_listings_total',
    help: 'Full listings of EFSwitch recording directories (the directory index refreshing itself)',
    registers: [this.registry]
  })

  readonly efswitchNamesListed = new Counter({
    name: 'gateway_efswitch_directory_names_listed_total',
    help: 'Recording file names read by EFSwitch directory listings',
    registers: [this.registry]
  })

  readonly pendingLegs: Gauge

  readonly cursorLag: Gauge

  /** Reads the push state at scrape time; null while pushing is disabled. */
  #pushState: (() => Promise<PushStateView>) | null = null
  #reading: Promise<PushStateView | null> | null = null

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })
    const state = (): Promise<PushStateView | null> => this.#readPushState()
    // Read from the store when scraped, not kept from the last run: with a shared (PostgreSQL) store the
    // leader's progress shows on every instance, and the lag keeps growing when no run completes.
    this.pendingLegs = new Gauge({
      name: 'gateway_pending_legs',
      help: 'CX legs waiting for a recording or for a retry of their push (NaN when pushing is disabled or the state cannot be read)',
      registers: [this.registry],
      async collect() {
        const view = await state()
        this.set(view === null ? NaN : view.pending.reduce((n, p) => n + p.waiting.length, 0))
      }
    })
    this.cursorLag = new Gauge({
      name: 'gateway_push_cursor_lag_seconds',
      help: 'How far the push cursor (end of the last completed window) is behind now (NaN before the first window completed)',
      registers: [this.registry],
      async collect() {
        const view = await state()
        this.set(view === null || view.cursor === null ? NaN : Math.max(0, (Date.now() - view.cursor) / 1000))
      }
    })
  }

  /** Makes the pending and cursor-lag gauges report this state (read once per scrape). */
  watchPushState(load: () => Promise<PushStateView>): void {
    this.#pushState = load
  }

  /** The text for a scrape. */
  async render(): Promise<string> {
    return this.registry.metrics()
  }

  #readPushState(): Promise<PushStateView | null> {
    const load = this.#pushState
    if (load === null) return Promise.resolve(null)
    // prom-client collects the gauges of one scrape concurrently: one read in flight serves them all.
    if (this.#reading !== null) return this.#reading
    const reading = load()
      .catch(() => null)
      .finally(() => {
        this.#reading = null
      })
    this.#reading = reading
    return reading
  }
}

/**
 * The state store seen by the push job, counting what it writes as it writes it: links CX accepted or
 * refused, and finished runs (each run saves its report exactly once, at its end). Counting at the
 * store rather than at the end of a run keeps long backfills visible while they run.
 */
export function meteredStateStore(store: StateStore, metrics: Metrics): StateStore {
  const counted: Partial<StateStore> = {
    recordAccepted: async (legId, at) => {
      await store.recordAccepted(legId, at)
      metrics.linksPushed.inc()
    },
    recordFailed: async (leg) => {
      await store.recordFailed(leg)
      metrics.linksFailed.inc()
    },
    saveRunReport: async (report) => {
      // Counted even if saving fails: the run happened.
      if (report.status !== 'running') metrics.pushRuns.inc({ trigger: report.trigger, status: report.status })
      await store.saveRunReport(report)
    }
  }
  return new Proxy(store, {
    get(target, prop) {
      if (typeof prop === 'string' && prop in counted) return counted[prop as keyof StateStore]
      const value: unknown = Reflect.get(target, prop, target)
      // Bound to the real store: its methods may use private fields, which a proxy as `this` lacks.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}
