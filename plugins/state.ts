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
      const store = await PostgresStateStore.open(url, {
        instanceId,
        onMigrated: (r) => {
          if (r.applied.length > 0) log.info({ applied: r.applied, version: r.current }, 'state database schema migrated')
          if (r.unknown.length > 0) {
            log.warn({ unknown: r.unknown }, 'the state database has migrations this gateway does not know (a newer version ran); carrying on')
          }
        }
      })
      app.decorate('stateStore', store)
      app.decorate('pushLeadership', new PgLeadership({ url, store, instanceId, log }))
      // The health plugin may be registered after this one: by onReady it is there if it exists at all.
      app.addHook('onReady', async () => {
        if (app.hasDecorator('readiness')) app.readiness.add('state', (signal) => store.ping(signal))
      })
      app.addHook('onClose', async () => store.close())
      return
    }
    app.decorate('pushLeadership', soleInstance)
    const { FileStateStore } = await import('../src/state/file-store.js')
    const store = await FileStateStore.open(app.config.stateDir, { warn: (msg, detail) => log.warn(detail ?? {}, msg) })
    app.decorate('stateStore', store)
    // Registered before the scheduler, so closed after it: the last run's writes land first.
    app.addHook('onClose', async () => store.close())
  },
  { name: 'state' }
)
