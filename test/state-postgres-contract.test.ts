import t from 'tap'
import { FileStateStore } from '../src/state/file-store.js'
import { PostgresStateStore } from '../src/state/postgres-store.js'
import { startPostgres } from './helpers/postgres.js'
import { tempDir } from './helpers/sox.js'
import { stateStoreContract } from './helpers/state-store-contract.js'

/*
 * The PostgreSQL store runs the same behavioural cases as the file store: the push job cannot tell
 * them apart. Each case gets its own state (a fresh directory, a fresh database).
 */

t.test('file store', async (t) => {
  stateStoreContract(t, async (t) => {
    const dir = await tempDir(t, 'cxgw-contract-')
    return { open: () => FileStateStore.open(dir) }
  })
})

t.test('PostgreSQL store', async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  let n = 0
  stateStoreContract(t, async () => {
    const url = await pg.createDatabase(`contract_${++n}`)
    return { open: () => PostgresStateStore.open(url, { instanceId: 'gw-contract' }) }
  })
})
