import fp from 'fastify-plugin'
import { FileStateStore } from '../src/state/file-store.js'
import type { StateStore } from '../src/state/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Push state (cursor, ledger, pending, failed); null when pushing is disabled. */
    stateStore: StateStore | null
  }
}

export interface StatePluginOptions {
  /** A ready store (tests, or the PostgreSQL store); the caller owns and closes it. Default: the file store in STATE_DIR. */
  store?: StateStore
}

/**
 * Opens the push state before the service starts, so a corrupt state file stops start-up with its
 * name instead of being discovered (or silently replaced) at the first run.
 */
export default fp<StatePluginOptions>(
  async (app, opts) => {
    if (opts.store) {
      app.decorate('stateStore', opts.store)
      return
    }
    if (!app.config.push.enabled) {
      app.decorate('stateStore', null)
      return
    }
    const log = app.log.child({ component: 'state' })
    const store = await FileStateStore.open(app.config.stateDir, { warn: (msg, detail) => log.warn(detail ?? {}, msg) })
    app.decorate('stateStore', store)
    // Registered before the scheduler, so closed after it: the last run's writes land first.
    app.addHook('onClose', async () => store.close())
  },
  { name: 'state' }
)
