import fp from 'fastify-plugin'
import { soleInstance, type Leadership } from '../src/state/leadership.js'
import type { StateStore } from '../src/state/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Push state (cursor, ledger, pending, failed); null when pushing is disabled. */
    stateStore: StateStore | null
    /** Who may run the push job: this instance alone (file store), or the holder of a PostgreSQL advisory lock. */
    pushLeadership: Leadership
  }
}

export interface StatePluginOptions {
  /** A ready store (tests, or the PostgreSQL store); the caller owns and closes it. Default: the file store in STATE_DIR. */
  store?: StateStore
  /** With `store`: who may run the push job. Default: this instance alone. */
  leadership?: Leadership
}

/**
 * Opens the push state before the service starts, so a corrupt state file stops start-up with its
 * name instead of being discovered (or silently replaced) at the first run.
 */
export default fp<StatePluginOptions>(
  async (app, opts) => {
    if (opts.store) {
      app.decorate('stateStore', opts.store)
      app.decorate('pushLeadership', opts.leadership ?? soleInstance)
      return
    }
    if (app.config.cx === null) {
      app.decorate('stateStore', null)
      app.decorate('pushLeadership', soleInstance)
      return
    }
    const log = app.log.child({ component: 'state' })
    const { stateDatabaseUrl: url, instanceId } = app.config
    // The stores are imported only when pushing is on, PostgreSQL's only when configured: a gateway that
    // only serves recordings starts without loading either (start-up time, bench: startup).
    if (url !== null) {
      // Several instances: shared state and one push leader at a time, both in PostgreSQL.
      const [{ PostgresStateStore }, { PgLeadership }] = await Promise.all([import('../src/state/postgres-store.js'), import('../src/state/pg-leadership.js')])
      const timeoutMs = app.config.stateDatabaseTimeoutMs
      const store = await PostgresStateStore.open(url, {
        instanceId,
        tuning: { statementTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs },
        onMigrated: (r) => {
          if (r.applied.length > 0) log.info({ applied: r.applied, version: r.current }, 'state database schema migrated')
          if (r.unknown.length > 0) {
            log.warn({ unknown: r.unknown }, 'the state database has migrations this gateway does not know (a newer version ran); carrying on')
          }
        }
      })
      app.decorate('stateStore', store)
      app.decorate('pushLeadership', new PgLeadership({ url, store, instanceId, log, statementTimeoutMs: timeoutMs }))
      // The health plugin may be registered after this one: by onReady it is there if it exists at all.
      app.addHook('onReady', async () => {
        if (app.hasDecorator('readiness')) app.readiness.add('state', (signal) => store.ping(signal))
      })
      app.addHook('onClose', async () => store.close())
      return
    }
    // One gateway per STATE_DIR, under a lock; a full disk or a directory held by another gateway does
    // not stop start-up (recordings are served all the same): every push run retries and reports why.
    const [{ GuardedFileStore }, { StateFileError }] = await Promise.all([import('../src/state/guarded-file-store.js'), import('../src/state/file-store.js')])
    const store = new GuardedFileStore({
      dir: app.config.stateDir,
      instanceId,
      lockStaleMs: app.config.stateDirLockStaleS * 1000,
      warn: (msg, detail) => log.warn(detail ?? {}, msg)
    })
    try {
      await store.acquire()
      await store.load()
    } catch (err) {
      // A corrupt state file is not retried: it stops start-up with its name, as before.
      if (err instanceof StateFileError) throw err
      log.error({ err: (err as Error).message }, 'push state unavailable: push runs will fail with this reason and retry; recordings are served')
    }
    app.decorate('stateStore', store)
    app.decorate('pushLeadership', store)
    // Registered before the scheduler, so closed after it: the last run's writes land first.
    app.addHook('onClose', async () => store.close())
  },
  { name: 'state' }
)
