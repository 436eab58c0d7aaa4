import postgres from 'postgres'
import { createCallrecTables } from '../../simulators/callrec-db.js'
import { startPostgres, type TestPostgres } from '../helpers/postgres.js'
import type { Teardownable } from '../helpers/sox.js'

/** A throw-away PostgreSQL with CallREC's empty tables, and a client to fill them; all gone at teardown. */
export async function startCallrecDatabase(t: Teardownable): Promise<{ pg: TestPostgres; databaseUrl: string; sql: postgres.Sql }> {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const databaseUrl = await pg.createDatabase('callrec')
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 5 }))
  await createCallrecTables(sql)
  return { pg, databaseUrl, sql }
}
