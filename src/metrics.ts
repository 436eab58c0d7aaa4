import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

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

  readonly pendingLegs = new Gauge({
    name: 'gateway_pending_legs',
    help: 'CX legs waiting for a recording or for a retry of their push',
    registers: [this.registry]
  })

  readonly cursorLag = new Gauge({
    name: 'gateway_push_cursor_lag_seconds',
    help: 'How far the push cursor (end of the last completed window) is behind now',
    registers: [this.registry]
  })

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })
  }
}
