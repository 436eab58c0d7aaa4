import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import postgres from 'postgres'
import { signLegId, verifyLegSignature } from '../auth/link-signature.js'
import { redactUrl } from '../auth/redact.js'
import { ConfigError, loadConfig, type Config, type CxConfig } from '../config.js'
import { createCxClient } from '../cx/client.js'
import { createProvider } from '../providers/index.js'
import { MIGRATIONS } from '../state/migrations.js'

/*
 * `cx-recording-gateway doctor`: what would stop this configuration from working, checked against the
 * real systems with the server's own code (config loader, CX client, providers), one line each. Nothing
 * is changed anywhere except a probe file written to and removed from STATE_DIR.
 */

export interface CheckResult {
  readonly ok: boolean
  /** What was found (ok) or what is wrong (not ok). Never a secret. */
  readonly detail: string
  /** What to do about it, when not ok. */
  readonly fix?: string
}

export interface Check {
  readonly name: string
  run(config: Config): Promise<CheckResult>
}

type Env = Record<string, string | undefined>

function message(err: unknown): string {
  return redactUrl(err instanceof Error ? err.message : String(err))
}

/** Providers log through Fastify's logger; the doctor reports through its own lines instead. */
const quiet: FastifyBaseLogger = {
  level: 'silent',
  fatal: () => undefined,
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  trace: () => undefined,
  silent: () => undefined,
  child: () => quiet
}

const cxCheck: Check = {
  name: 'CX token',
  async run(config) {
    if (config.cx === null) return { ok: true, detail: 'CX_BASE_URL is not set: recordings are served, nothing is pushed' }
    const cx: CxConfig = config.cx
    const client = createCxClient(cx)
    const how = cx.auth.kind === 'static' ? 'CX_API_TOKEN' : `Keycloak password grant at ${redactUrl(cx.auth.tokenUrl)}`
    try {
      // The smallest question CX answers only with a valid token: one page of an empty window.
      const now = Date.now()
      const pages = client.voiceActivities({ start: now - 1, end: now })
      await pages.next()
      await pages.return(undefined)
      return { ok: true, detail: `${how}: CX at ${redactUrl(cx.baseUrl)} accepts the token` }
    } catch (err) {
      const fix =
        cx.auth.kind === 'static'
          ? 'check CX_API_TOKEN, or unset it to use Keycloak (CX_TOKEN_URL, CX_CLIENT_ID, CX_USERNAME, CX_PASSWORD)'
          : 'check CX_TOKEN_URL, CX_CLIENT_ID, CX_CLIENT_SECRET, CX_USERNAME and CX_PASSWORD, and that CX_BASE_URL is the conversation manager'
      return { ok: false, detail: `${how}: ${message(err)}`, fix }
    } finally {
      await client.close()
    }
  }
}

const vendorCheck: Check = {
  name: 'recording system',
  async run(config) {
    const recorder = config.recorder
    const { where, fix } =
      recorder.vendor === 'efswitch'
        ? {
            where: `EFSwitch database ${redactUrl(recorder.databaseUrl)}, recordings under ${recorder.recordingsRoot}`,
            fix: 'check EFSWITCH_DATABASE_URL (reachable, credentials) and that EFSWITCH_RECORDINGS_ROOT exists and is readable by this user'
          }
        : recorder.api === 'callrec'
          ? {
              where: `CallREC servlets at ${redactUrl(recorder.baseUrl)}, database ${redactUrl(recorder.databaseUrl)}`,
              fix: 'check ELEVEO_BASE_URL, ELEVEO_USERNAME and ELEVEO_PASSWORD (the servlet login) and ELEVEO_DATABASE_URL (reachable, credentials)'
            }
          : {
              where: `Eleveo (rest) at ${redactUrl(recorder.baseUrl)}`,
              fix: 'check ELEVEO_BASE_URL (reachable from here), ELEVEO_USERNAME and ELEVEO_PASSWORD'
            }
    const provider = await createProvider(config, quiet)
    try {
      await provider.ping(AbortSignal.timeout(30_000))
      return { ok: true, detail: `${where} answers` }
    } catch (err) {
      return { ok: false, detail: `${where}: ${message(err)}`, fix }
    } finally {
      await provider.close()
    }
  }
}

/** Tables the migrations create: the state store needs to write every one of them. */
function stateTables(): string[] {
  return MIGRATIONS.flatMap((m) => m.statements.flatMap((s) => [.../create table (\w+)/.exec(s)?.slice(1) ?? []]))
}

async function postgresState(url: string): Promise<CheckResult> {
  const where = `PostgreSQL ${redactUrl(url)}`
  const sql = postgres(url, { max: 1, connect_timeout: 10, idle_timeout: 1, onnotice: () => undefined })
  try {
    const [standby] = await sql<Array<{ recovery: boolean }>>`select pg_is_in_recovery() as recovery`
    if (standby?.recovery === true) return { ok: false, detail: `${where} is a read-only standby`, fix: 'point STATE_DATABASE_URL at the primary' }
    const [registry] = await sql<Array<{ exists: boolean }>>`select to_regclass('schema_migrations') is not null as exists`
    const latest = MIGRATIONS.at(-1)?.version ?? 0
    if (registry?.exists !== true) {
      return { ok: false, detail: `${where}: no migrations applied yet`, fix: 'start the gateway once with this STATE_DATABASE_URL: it applies its migrations at start-up' }
    }
    const rows = await sql<Array<{ version: number }>>`select version from schema_migrations order by version`
    const applied = new Set(rows.map((r) => r.version))
    const missing = MIGRATIONS.filter((m) => !applied.has(m.version)).map((m) => m.version)
    if (missing.length > 0) {
      return { ok: false, detail: `${where}: migrations ${missing.join(', ')} not applied`, fix: 'start the gateway (this version) once: it applies the missing migrations at start-up' }
    }
    const tables = stateTables()
    // One privilege per call: given a list, has_table_privilege is true when any one of them is held.
    const denied = await sql<Array<{ table: string }>>`
      select t as table from unnest(${tables}::text[]) as t
      where not (has_table_privilege(current_user, t, 'SELECT') and has_table_privilege(current_user, t, 'INSERT')
             and has_table_privilege(current_user, t, 'UPDATE') and has_table_privilege(current_user, t, 'DELETE'))`
    if (denied.length > 0) {
      return { ok: false, detail: `${where}: this user may not write ${denied.map((d) => d.table).join(', ')}`, fix: 'grant SELECT, INSERT, UPDATE, DELETE on the push_* tables to the STATE_DATABASE_URL user' }
    }
    return { ok: true, detail: `${where}: migrations 1..${latest} applied, ${tables.length} tables writable` }
  } catch (err) {
    return { ok: false, detail: `${where}: ${message(err)}`, fix: 'check STATE_DATABASE_URL: host reachable from here, user, password and database' }
  } finally {
    await sql.end({ timeout: 1 })
  }
}

async function fileState(dir: string): Promise<CheckResult> {
  // What the file store does at start-up (create the directory), then a write it would make.
  const probe = join(dir, `.doctor-${process.pid}`)
  try {
    await mkdir(dir, { recursive: true })
    await writeFile(probe, 'probe\n')
    await rm(probe, { force: true })
    return { ok: true, detail: `file store in ${dir} is writable (one gateway process per directory)` }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    return { ok: false, detail: `STATE_DIR ${dir} is not writable (${code})`, fix: 'point STATE_DIR at a writable directory (the image declares /var/lib/cx-recording-gateway), or use STATE_DATABASE_URL' }
  }
}

const stateCheck: Check = {
  name: 'state store',
  async run(config) {
    if (config.cx === null) return { ok: true, detail: 'not used: nothing is pushed' }
    return config.stateDatabaseUrl !== null ? postgresState(config.stateDatabaseUrl) : fileState(config.stateDir)
  }
}

const signingCheck: Check = {
  name: 'signing key',
  async run(config) {
    const { key, oldKeys } = config.linkSigning
    if (key === null) {
      return { ok: false, detail: 'LINK_SIGNING_KEY is not set: links are unsigned and recordings are served to anyone who knows a leg ID', fix: 'set LINK_SIGNING_KEY to a random secret of at least 16 characters (e.g. openssl rand -base64 32)' }
    }
    const legId = 'doctor:1000:0:0'
    if (verifyLegSignature(legId, signLegId(legId, key), [key, ...oldKeys]) !== 'valid') {
      return { ok: false, detail: 'a link signed with LINK_SIGNING_KEY does not verify', fix: 'report this: signing and verification disagree' }
    }
    const old = oldKeys.length === 0 ? '' : `; ${oldKeys.length} previous key${oldKeys.length === 1 ? '' : 's'} still accepted (LINK_SIGNING_KEYS_OLD)`
    return { ok: true, detail: `links are signed and verified${old}` }
  }
}

export const CHECKS: readonly Check[] = [cxCheck, vendorCheck, stateCheck, signingCheck]

/** Prints one line per check (✓/✗, and the fix); true when every check passed. */
export async function runDoctor(env: Env, write: (line: string) => void): Promise<boolean> {
  const line = (ok: boolean | null, name: string, detail: string, fix?: string): void => {
    const mark = ok === null ? '-' : ok ? '✓' : '✗'
    write(`${mark} ${name.padEnd(18)} ${detail}${fix === undefined ? '' : `\n  ${' '.repeat(18)} fix: ${fix}`}`)
  }
  let config: Config
  try {
    config = loadConfig(env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    line(false, 'configuration', redactUrl(err.message), `set ${err.variable} as the README's configuration table says`)
    for (const check of CHECKS) line(null, check.name, 'not checked: the configuration does not load')
    return false
  }
  const mode = config.cx === null ? 'serving recordings only' : 'serving recordings and pushing links to CX'
  line(true, 'configuration', `${config.recorder.vendor}, ${mode}${config.warnings.length > 0 ? `; ${config.warnings.join('; ')}` : ''}`)
  let allOk = true
  for (const check of CHECKS) {
    const result = await check.run(config)
    allOk &&= result.ok
    line(result.ok, check.name, result.detail, result.fix)
  }
  return allOk
}
