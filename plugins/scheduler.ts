import fp from 'fastify-plugin'
import { AsyncTask, SimpleIntervalJob, ToadScheduler } from 'toad-scheduler'
import { whenPushing } from '../src/config.js'
import type { CxClient } from '../src/cx/client.js'
import type { Leadership } from '../src/state/leadership.js'
import type { CxPort } from '../src/jobs/push-links.js'
import { PushRunner, RunInProgressError } from '../src/jobs/push-runner.js'
import { meteredStateStore } from '../src/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs of the push job (scheduled and manual share its one-at-a-time guard); null when pushing is disabled. */
    pushRunner: PushRunner | null
  }
}

export interface SchedulerPluginOptions {
  /** A CX adapter to use instead of the configured one (tests). */
  cx?: CxPort
  /** Who may run the job; default: what the state plugin decided (`app.pushLeadership`). */
  leadership?: Leadership
  /** False: build the runner (manual runs work) but start no timer. Default true. */
  schedule?: boolean
}

/**
 * The push job on a timer: every PUSH_INTERVAL_S a run starts unless one is still under way (a tick that
 * finds one running is skipped, not queued). On close the timer stops first, then the current run is
 * given SHUTDOWN_TIMEOUT_MS to finish before it is aborted between two messages.
 * Needs the `provider` and `state` plugins.
 */
export default fp<SchedulerPluginOptions>(
  async (app, opts) => {
    const config = whenPushing(app.config)
    const store = app.stateStore
    // The state plugin opens a store exactly when CX is configured.
    if (config === null || store === null) {
      app.decorate('pushRunner', null)
      app.log.info('pushing to CX is disabled (CX_BASE_URL is not set)')
      return
    }
    // A CX adapter passed in (tests) belongs to the caller; one built here is closed here.
    let client: CxClient | null = null
    let cx: CxPort
    if (opts.cx) cx = opts.cx
    else {
      // Imported only when pushing is on: a gateway that only serves recordings never loads the CX adapter.
      const { createCxClient } = await import('../src/cx/client.js')
      cx = client = createCxClient(config.cx)
    }

    const log = app.log.child({ component: 'push' })
    const runner = new PushRunner({
      config,
      provider: app.provider,
      cx,
      // Counts links pushed/refused and finished runs as the job records them (gateway_* metrics).
      store: meteredStateStore(store, app.metrics),
      log,
      instanceId: config.instanceId,
      leadership: opts.leadership ?? app.pushLeadership
    })
    app.decorate('pushRunner', runner)
    app.metrics.watchPushState(() => store.load())

    const scheduler = new ToadScheduler()
    if (opts.schedule !== false) {
      const task = new AsyncTask(
        'push-links',
        async () => {
          try {
            await runner.start('schedule').done
          } catch (err) {
            if (err instanceof RunInProgressError) log.debug({ run: err.runId }, 'a push run is under way; skipping this tick')
            else throw err
          }
        },
        (err) => log.error({ err }, 'scheduled push run could not start')
      )
      app.addHook('onReady', async () => {
        scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ seconds: config.push.intervalS }, task, { id: 'push-links', preventOverrun: true }))
      })
    }
    // The run's grace starts when closing starts, alongside the draining of streams (which Fastify awaits
    // before any onClose hook), so SHUTDOWN_TIMEOUT_MS bounds both together rather than one after the other.
    let stopping: Promise<void> | null = null
    const stop = (): Promise<void> => {
      if (stopping === null) {
        scheduler.stop()
        stopping = runner.stop(config.shutdownTimeoutMs)
      }
      return stopping
    }
    app.addHook('preClose', async () => {
      // Not awaited here (that would hold the listener open); onClose awaits it and sees any failure.
      stop().catch(() => undefined)
    })
    app.addHook('onClose', async () => {
      await stop()
      await client?.close()
    })
  },
  { name: 'scheduler', dependencies: ['provider', 'state', 'metrics'] }
)
