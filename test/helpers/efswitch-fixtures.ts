/*
 * An EFSwitch as the gateway sees it: a FusionPBX-style v_xml_cdr table in a real PostgreSQL and a
 * recordings root of sox-made WAV files named `<dialogId>:<agentExtension>:<ani>:<startEpochMs>.wav`.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import { buildApp } from '../../src/app.js'
import { testConfig } from './gateway-config.js'
import { startPostgres, type TestPostgres } from './postgres.js'
import { makeTone } from './sox.js'

export interface Teardownable {
  teardown(fn: () => unknown): void
}

/** FusionPBX's v_xml_cdr with the columns the guide names: one row per channel, channel variables in json. */
export async function createCdrTable(databaseUrl: string): Promise<postgres.Sql> {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })
  await sql`
    create table v_xml_cdr (
      xml_cdr_uuid uuid primary key,
      direction text,
      leg char(1),
      start_stamp timestamptz,
      caller_id_number text,
      destination_number text,
      record_path text,
      record_name text,
      json jsonb
    )`
  return sql
}

/** A call of an older set-up: keyed by the CDR's own uuid (the dialogId), no Call-ID variable. */
export async function insertCall(sql: postgres.Sql, dialogId: string, recordPath: string | null): Promise<void> {
  await sql`insert into v_xml_cdr (xml_cdr_uuid, record_path, start_stamp) values (${dialogId}, ${recordPath}, now())`
}

export interface CdrRow {
  /** The SIP Call-ID, stored as the channel variable sip_h_X-CALL-ID (CX's dialogId). */
  callId: string
  recordPath: string | null
  leg?: 'a' | 'b'
  direction?: string
  start?: Date
  recordName?: string | null
}

/** One channel's CDR row as FusionPBX writes it; returns its xml_cdr_uuid. */
export async function insertCdrRow(sql: postgres.Sql, row: CdrRow): Promise<string> {
  const uuid = randomUUID()
  const variables = { 'sip_h_X-CALL-ID': row.callId, uuid, record_path: row.recordPath }
  await sql`
    insert into v_xml_cdr (xml_cdr_uuid, direction, leg, start_stamp, caller_id_number, destination_number, record_path, record_name, json)
    values (${uuid}, ${row.direction ?? 'inbound'}, ${row.leg ?? 'a'}, ${row.start ?? new Date()}, '+41441234567', '1001',
            ${row.recordPath}, ${row.recordName ?? null}, ${sql.json({ variables })})`
  return uuid
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

/** A switch to test against: a real PostgreSQL with FusionPBX's v_xml_cdr and an empty recordings root. */
export interface TestSwitch {
  readonly pg: TestPostgres
  readonly databaseUrl: string
  /** A connection for the test's own rows. */
  readonly cdr: postgres.Sql
  /** EFSWITCH_RECORDINGS_ROOT: a temp directory. */
  readonly root: string
}

/** Starts one; the server, the connection and the root are all gone at teardown. */
export async function startSwitch(t: Teardownable, database = 'fusionpbx'): Promise<TestSwitch> {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const databaseUrl = await pg.createDatabase(database)
  const cdr = await createCdrTable(databaseUrl)
  t.teardown(() => cdr.end({ timeout: 5 }))
  return { pg, databaseUrl, cdr, root: await recordingsRoot(t) }
}

/** The day directory the switch writes a date's recordings to: `${root}/pbx.example.com/archive/2026/Dec/05`. */
export function dayDirectory(root: string, isoDate: string): string {
  const [year, month, day] = isoDate.split('-') as [string, string, string]
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][Number(month) - 1]!
  return join(root, 'pbx.example.com', 'archive', year, mon, day)
}

/** A pino destination keeping every JSON line, parsed, and the raw text (to search for secrets). */
export function jsonLog(): { stream: Writable; lines: Record<string, unknown>[]; raw: string[] } {
  const lines: Record<string, unknown>[] = []
  const raw: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = chunk.toString()
      raw.push(text)
      for (const line of text.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return { stream, lines, raw }
}

/** The gateway in-process with RECORDING_VENDOR=efswitch against `sw`, built from the environment as at start-up. */
export async function efswitchGateway(
  t: Teardownable,
  sw: Pick<TestSwitch, 'databaseUrl' | 'root'>,
  env: Record<string, string> = {},
  logStream?: Writable
): Promise<FastifyInstance> {
  const config = testConfig({
    RECORDING_VENDOR: 'efswitch',
    EFSWITCH_DATABASE_URL: sw.databaseUrl,
    EFSWITCH_RECORDINGS_ROOT: sw.root,
    LOG_LEVEL: logStream ? 'info' : 'silent',
    ...env
  })
  const app = await buildApp({ config, ...(logStream ? { logger: { stream: logStream } } : {}) })
  t.teardown(() => app.close())
  return app
}
