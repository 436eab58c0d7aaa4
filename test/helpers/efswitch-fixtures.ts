/*
 * An EFSwitch as the gateway sees it: a FusionPBX-style v_xml_cdr table in a real PostgreSQL and a
 * recordings root of sox-made WAV files named `<dialogId>:<agentExtension>:<ani>:<startEpochMs>.wav`.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { startPostgres } from './postgres.js'
import { makeTone } from './sox.js'

export interface Teardownable {
  teardown(fn: () => unknown): void
}

/** The columns the guide names; only xml_cdr_uuid and record_path are read by the default query. */
export async function createCdrTable(databaseUrl: string): Promise<postgres.Sql> {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })
  await sql`
    create table v_xml_cdr (
      xml_cdr_uuid uuid primary key,
      record_path text,
      record_name text,
      start_stamp timestamptz,
      caller_id_number text,
      destination_number text
    )`
  return sql
}

export async function insertCall(sql: postgres.Sql, dialogId: string, recordPath: string | null): Promise<void> {
  await sql`insert into v_xml_cdr (xml_cdr_uuid, record_path, start_stamp) values (${dialogId}, ${recordPath}, now())`
}

export async function recordingsRoot(t: Teardownable): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-efswitch-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export interface RecordingSpec {
  dialogId: string
  agentExtension: string
  ani: string
  start: number
  seconds?: number
  freq?: number
}

export function recordingFileName(spec: Pick<RecordingSpec, 'dialogId' | 'agentExtension' | 'ani' | 'start'>): string {
  return `${spec.dialogId}:${spec.agentExtension}:${spec.ani}:${spec.start}.wav`
}

/** Writes one leg's recording into `dir` (created if needed) and returns its path and bytes. */
export async function writeRecording(dir: string, spec: RecordingSpec): Promise<{ path: string; bytes: Buffer }> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, recordingFileName(spec))
  await makeTone(path, { seconds: spec.seconds ?? 0.5, freq: spec.freq ?? 440 })
  return { path, bytes: await readFile(path) }
}

/** Records every warning a component logs, so refusals can be asserted on. */
export function warnCollector(): {
  log: { warn: (obj: unknown, msg?: string) => void; debug: () => void }
  warnings: { obj: unknown; msg: string | undefined }[]
} {
  const warnings: { obj: unknown; msg: string | undefined }[] = []
  return {
    log: {
      warn: (obj: unknown, msg?: string) => {
        warnings.push({ obj, msg })
      },
      debug: () => {}
    },
    warnings
  }
}

/** A switch for one test file or test: a fresh database with v_xml_cdr and an empty recordings root, all torn down after. */
export async function startSwitch(t: Teardownable, name = 'switch'): Promise<{ databaseUrl: string; cdr: postgres.Sql; root: string }> {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const databaseUrl = await pg.createDatabase(name)
  const cdr = await createCdrTable(databaseUrl)
  t.teardown(() => cdr.end({ timeout: 5 }))
  return { databaseUrl, cdr, root: await recordingsRoot(t) }
}
