import { hostname } from 'node:os'
import { redactUrl } from './auth/redact.js'
import { checkTimeZone, UnknownTimeZoneError } from './time-zone.js'

/**
 * The whole configuration, typed. Built once from the environment at start-up (loadConfig) or
 * directly by tests and the demo. Nothing else in the code reads process.env.
 */
export interface Config {
  port: number
  host: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  instanceId: string

  /** The recording vendor (RECORDING_VENDOR) with the settings it needs, all present. */
  recorder: RecorderConfig
  legCacheTtlMs: number
  /** Bounds on serving recordings, whatever the vendor (see README "Limits on serving recordings"). */
  retrieval: RetrievalLimits

  /** Null when CX_BASE_URL is unset: no pushing (no scheduler, no state); the service only serves recordings. */
  cx: CxConfig | null
  publicBaseUrl: string
  push: {
    /** VENDOR_CONCURRENCY: vendor look-ups at once during a push run (any vendor). */
    vendorConcurrency: number
    /** PROCESSING_DELAY_S: windows end this long before now, while the recorder stores a call. */
    processingDelayS: number
    intervalS: number
    defaultWindowS: number
    maxWindowS: number
    matchToleranceMs: number
    pendingMaxAgeS: number
    /** LEDGER_RETENTION_DAYS: how long legs CX accepted are remembered, so backfills do not push them again. */
    ledgerRetentionDays: number
  }
  stateDir: string
  /** STATE_DIR_LOCK_STALE_S: a STATE_DIR lock file untouched this long is taken over. */
  stateDirLockStaleS: number
  stateDatabaseUrl: string | null
  /** STATE_DATABASE_TIMEOUT_MS: deadline of every state-database query, kept by the server and by us. */
  stateDatabaseTimeoutMs: number
  adminToken: string | null

  linkSigning: {
    /** Null disables signing and verification (development only; logged as a warning). */
    key: string | null
    oldKeys: string[]
  }
  rateLimit: { max: number; windowMs: number }
  pressure: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number; maxRssBytes: number }
  healthCheckIntervalMs: number
  shutdownTimeoutMs: number
  /**
   * Fastify's trustProxy: false (default) uses the socket's address as the client IP (rate limits, logs);
   * behind a load balancer, true, a hop count, or the proxies' addresses/CIDRs (comma-separated).
   */
  trustProxy: boolean | number | string
  /** Bearer token required by GET /metrics; null leaves /metrics open (keep it off the public network). */
  metricsToken: string | null
  /** Browser origins allowed to fetch recordings cross-origin (CORS); empty: no CORS headers at all. */
  corsOrigins: string[]
  /** Things an operator should fix that do not stop start-up (old variable names); logged once by buildApp. */
  warnings: readonly string[]
}

export interface RetrievalLimits {
  /** MAX_SEGMENTS_PER_LEG: a leg split into more parts is a 502 before any part is read. */
  maxSegmentsPerLeg: number
  /** MAX_RECORDING_BYTES: a stored file or merged recording claiming more is a 502. */
  maxRecordingBytes: number
  /** MAX_CONCURRENT_STREAMS: recordings served at once; beyond, 503 + Retry-After. */
  maxConcurrentStreams: number
  /** SEND_TIMEOUT_MS: a response whose client takes no bytes for this long is cut (0: never). */
  sendTimeoutMs: number
  /** LEG_CACHE_MAX_BYTES: estimated bytes each of the listing and layout caches may hold. */
  cacheMaxBytes: number
}

/** Eleveo reached through its REST API. */
export interface EleveoRestConfig {
  vendor: 'eleveo'
  api: 'rest'
  baseUrl: string
  username: string | null
  password: string | null
  timeoutMs: number
  /** ELEVEO_CONNECTIONS: sockets to Eleveo at most; a request waits at most timeoutMs for one (then 503). */
  connections: number
}

/** Eleveo as CallREC installations expose it: couples in its PostgreSQL, MP3 from its servlets. */
export interface EleveoCallrecConfig {
  vendor: 'eleveo'
  api: 'callrec'
  /** Where the servlets are (`…/callrec/loginservlet` etc.). */
  baseUrl: string
  username: string
  password: string
  /** Servlet timeouts, and the deadline of every database query. */
  timeoutMs: number
  databaseUrl: string
  /** The couple_extdata key holding CX's dialogId. */
  dialogKey: string
  legsQuery: string
  /** Canonical IANA name of the zone CallREC's timestamps are in. */
  timeZone: string
  holdMaxGapS: number
}

/** Eleveo, tagged by the interface it is reached through (ELEVEO_API). */
export type EleveoConfig = EleveoRestConfig | EleveoCallrecConfig

export interface EfswitchConfig {
  vendor: 'efswitch'
  databaseUrl: string
  recordingsRoot: string
  pathQuery: string
  /** Client-side deadline (and statement_timeout) of every query to the switch's database. */
  queryTimeoutMs: number
  /** File names the day-directory index keeps in memory, over all directories (LRU). */
  indexMaxEntries: number
}

export type RecorderConfig = EleveoConfig | EfswitchConfig

/** How the gateway proves itself to CX: a fixed bearer, or Keycloak's password grant. */
export type CxAuth =
  | { kind: 'static'; token: string }
  | { kind: 'keycloak'; tokenUrl: string; clientId: string; clientSecret: string | null; username: string; password: string }

export interface CxConfig {
  baseUrl: string
  auth: CxAuth
  senderId: string
  activityType: string
  concurrency: number
  timeoutMs: number
  /** CX_MAX_PAGES_PER_WINDOW: voice-activities pages one window may take before the run fails. */
  maxPagesPerWindow: number
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string
  ) {
    super(`${variable}: ${message}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/** Reads one variable; empty strings count as unset so `FOO=` in an env file means "default". */
function str(env: Env, name: string): string | null {
  const v = env[name]
  return v === undefined || v.trim() === '' ? null : v.trim()
}

function int(env: Env, name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = str(env, name)
  if (raw === null) return def
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected an integer, got ${JSON.stringify(raw)}`)
  const n = Number(raw)
  if (n < min || n > max) throw new ConfigError(name, `expected ${min}..${max}, got ${n}`)
  return n
}

/**
 * Node's timers hold at most 2^31 - 1 ms (24.8 days): a longer delay is silently replaced by 1 ms, so
 * a timeout meant as "practically never" would fire at once (and an interval would spin). Settings that
 * become timers are capped here, where a bad value names itself.
 */
const MAX_TIMER_MS = 2_147_483_647

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], def: T): T {
  const raw = str(env, name)
  if (raw === null) return def
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`)
  }
  return raw as T
}

function url(env: Env, name: string): string | null {
  const raw = str(env, name)
  if (raw === null) return null
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(name, `not a valid URL: ${JSON.stringify(redactUrl(raw))}`)
  }
  const protocols = name.endsWith('DATABASE_URL') ? ['postgres:', 'postgresql:'] : ['http:', 'https:']
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got ${parsed.protocol}`)
  }
  return raw.replace(/\/+$/, '')
}

/**
 * The GUIDE's look-up of a call's couples: one row per couple whose external data `$2` (the key,
 * ELEVEO_DIALOG_KEY) equals `$1` (CX's dialogId). ELEVEO_LEGS_QUERY replaces it and must return the
 * same columns (COUPLE_COLUMNS).
 */
export const DEFAULT_CALLREC_LEGS_QUERY = `select c.sid, c.start_ts, c.stop_ts, c.finalcallednr as agent_extension, c.callingnr as ani
from callrec.couples c join callrec.couple_extdata x on x.cplid = c.id
where x.value = $1 and x.key = $2`

/*
 * Every CDR row of the call (one per channel: a-leg, b-legs, transfers), by the SIP Call-ID CX knows as
 * the dialogId, or by the CDR's own uuid as older set-ups used it. `$2` is the dialogId only when it is
 * a UUID (null otherwise), so a Call-ID is never cast to uuid. The expression matches the index the
 * README recommends, character for character: PostgreSQL uses an expression index only then.
 */
export const DEFAULT_EFSWITCH_PATH_QUERY =
  "select distinct record_path from v_xml_cdr where (json->'variables'->>'sip_h_X-CALL-ID' = $1 or xml_cdr_uuid = $2::uuid) and record_path <> ''"

/** EFSWITCH_PATH_QUERY may use `$1` (the dialogId) and `$2` (the dialogId if a UUID, else null), no others. */
function pathQuery(env: Env): string {
  const query = str(env, 'EFSWITCH_PATH_QUERY')
  if (query === null) return DEFAULT_EFSWITCH_PATH_QUERY
  const named = new Set([...query.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])))
  if (!named.has(1)) throw new ConfigError('EFSWITCH_PATH_QUERY', 'must use $1 (the dialogId)')
  const others = [...named].filter((n) => n > 2)
  if (others.length > 0) {
    throw new ConfigError('EFSWITCH_PATH_QUERY', `may use only $1 (the dialogId) and $2 (the dialogId if it is a UUID, else null), not $${others[0]}`)
  }
  return query
}

/** TRUST_PROXY: unset/false, true, a number of hops, or proxy addresses/CIDRs separated by commas. */
function trustProxy(env: Env): boolean | number | string {
  const raw = str(env, 'TRUST_PROXY')
  if (raw === null || raw === 'false') return false
  if (raw === 'true') return true
  if (/^\d+$/.test(raw)) return int(env, 'TRUST_PROXY', 0, 0, 100)
  if (!/^[0-9A-Fa-f:.,/ ]+$/.test(raw)) {
    throw new ConfigError('TRUST_PROXY', `expected true, false, a hop count or comma-separated addresses/CIDRs, got ${JSON.stringify(raw)}`)
  }
  return raw
}

/**
 * CORS_ORIGINS: comma-separated origins as browsers send them (`scheme://host[:port]`), or `*` for any.
 * Stored in the browser's serialisation (lower-case host, default port dropped) because @fastify/cors
 * compares the Origin header as a plain string.
 */
function corsOrigins(env: Env): string[] {
  const raw = str(env, 'CORS_ORIGINS')
  if (raw === null) return []
  const items = raw.split(',').map((o) => o.trim()).filter((o) => o !== '')
  if (items.includes('*')) {
    if (items.length > 1) throw new ConfigError('CORS_ORIGINS', '`*` (any origin) cannot be combined with other origins')
    return ['*']
  }
  return items.map((item) => {
    let u: URL | null = null
    try {
      u = new URL(item)
    } catch {
      // reported below with the expected form
    }
    const bare = u !== null && u.pathname === '/' && u.search === '' && u.hash === '' && u.username === '' && !item.endsWith('/')
    if (u === null || !bare || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new ConfigError('CORS_ORIGINS', `${JSON.stringify(item)} is not an origin: expected scheme://host[:port] (http or https, no path, no trailing slash)`)
    }
    return u.origin
  })
}

/** The configuration of a gateway that pushes to CX, or null when CX_BASE_URL is unset. */
export function whenPushing(config: Config): (Config & { cx: CxConfig }) | null {
  return config.cx === null ? null : { ...config, cx: config.cx }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Settings renamed because they were never Eleveo's alone: old name → new name. */
const RENAMED = { ELEVEO_CONCURRENCY: 'VENDOR_CONCURRENCY', ELEVEO_PROCESSING_DELAY_S: 'PROCESSING_DELAY_S' } as const

/** The environment with old names copied to their new ones (the new name wins), and a warning for each. */
function withRenamed(env: Env, warnings: string[]): Env {
  const out: Env = { ...env }
  for (const [old, current] of Object.entries(RENAMED)) {
    if (str(env, old) === null) continue
    if (str(env, current) === null) {
      out[current] = env[old]
      warnings.push(`${old} is deprecated: set ${current} instead (same meaning, it applies to every vendor)`)
    } else {
      warnings.push(`${old} is deprecated and ignored: ${current} is set`)
    }
  }
  return out
}

/** ELEVEO_API=callrec's own settings, read and checked whichever interface is chosen. */
function callrecSettings(env: Env) {
  const legsQuery = str(env, 'ELEVEO_LEGS_QUERY') ?? DEFAULT_CALLREC_LEGS_QUERY
  for (const [param, meaning] of [['$1', 'the dialogId'], ['$2', 'the key, ELEVEO_DIALOG_KEY']] as const) {
    if (!new RegExp(`\\${param}(?!\\d)`).test(legsQuery)) {
      throw new ConfigError('ELEVEO_LEGS_QUERY', `must use ${param} (${meaning}); both parameters are always sent`)
    }
  }
  let timeZone: string
  try {
    // The default needs no check: the first Intl.DateTimeFormat loads ICU's zone data, tens of ms of
    // every start-up (bench: startup) for a zone that is always valid.
    const zone = str(env, 'ELEVEO_TIMEZONE')
    timeZone = zone === null ? 'UTC' : checkTimeZone(zone)
  } catch (err) {
    if (err instanceof UnknownTimeZoneError) throw new ConfigError('ELEVEO_TIMEZONE', err.message)
    throw err
  }
  return {
    databaseUrl: url(env, 'ELEVEO_DATABASE_URL'),
    dialogKey: str(env, 'ELEVEO_DIALOG_KEY') ?? 'JTAPI_CISCO_ID',
    legsQuery,
    timeZone,
    holdMaxGapS: int(env, 'ELEVEO_HOLD_MAX_GAP_S', 900, 0, 86_400)
  }
}

/** The Eleveo variant ELEVEO_API names, with what that interface requires present. */
function eleveoConfig(env: Env, baseUrl: string | null, common: Pick<EleveoRestConfig, 'username' | 'password' | 'timeoutMs' | 'connections'>, callrec: ReturnType<typeof callrecSettings>): EleveoConfig {
  const api = oneOf(env, 'ELEVEO_API', ['rest', 'callrec'] as const, 'rest')
  if (baseUrl === null) throw new ConfigError('ELEVEO_BASE_URL', 'required when RECORDING_VENDOR=eleveo')
  if (api === 'rest') return { vendor: 'eleveo', api, baseUrl, ...common }
  const { databaseUrl, ...rest } = callrec
  if (databaseUrl === null) {
    throw new ConfigError('ELEVEO_DATABASE_URL', "required when ELEVEO_API=callrec (CallREC's PostgreSQL; a read-only user is enough)")
  }
  const { username, password, timeoutMs } = common
  if (username === null) throw new ConfigError('ELEVEO_USERNAME', 'required when ELEVEO_API=callrec (the servlets need a login)')
  if (password === null) throw new ConfigError('ELEVEO_PASSWORD', 'required when ELEVEO_API=callrec (the servlets need a login)')
  return { vendor: 'eleveo', api, baseUrl, username, password, timeoutMs, databaseUrl, ...rest }
}

function recorderConfig(env: Env): RecorderConfig {
  const vendor = oneOf(env, 'RECORDING_VENDOR', ['eleveo', 'efswitch'] as const, 'eleveo')
  // Every vendor's settings are read (and a bad value refused) whichever vendor is chosen.
  const eleveoBaseUrl = url(env, 'ELEVEO_BASE_URL')
  const eleveo = {
    username: str(env, 'ELEVEO_USERNAME'),
    password: str(env, 'ELEVEO_PASSWORD'),
    timeoutMs: int(env, 'ELEVEO_TIMEOUT_MS', 10_000, 1, MAX_TIMER_MS),
    connections: int(env, 'ELEVEO_CONNECTIONS', 256, 1, 65_536)
  }
  const databaseUrl = url(env, 'EFSWITCH_DATABASE_URL')
  const recordingsRoot = str(env, 'EFSWITCH_RECORDINGS_ROOT')
  const efswitch = {
    pathQuery: pathQuery(env),
    queryTimeoutMs: int(env, 'EFSWITCH_QUERY_TIMEOUT_MS', 5_000, 1, MAX_TIMER_MS),
    indexMaxEntries: int(env, 'EFSWITCH_INDEX_MAX_ENTRIES', 500_000, 0, 100_000_000)
  }
  const callrec = callrecSettings(env)
  switch (vendor) {
    case 'eleveo':
      return eleveoConfig(env, eleveoBaseUrl, eleveo, callrec)
    case 'efswitch':
      if (databaseUrl === null) throw new ConfigError('EFSWITCH_DATABASE_URL', 'required when RECORDING_VENDOR=efswitch')
      if (recordingsRoot === null) throw new ConfigError('EFSWITCH_RECORDINGS_ROOT', 'required when RECORDING_VENDOR=efswitch')
      return { vendor, databaseUrl, recordingsRoot, ...efswitch }
  }
}

/** Null when CX_BASE_URL is unset; its other settings are still checked, so a typo never waits for the day it matters. */
function cxConfig(env: Env): CxConfig | null {
  const baseUrl = url(env, 'CX_BASE_URL')
  const tokenUrl = url(env, 'CX_TOKEN_URL')
  const clientId = str(env, 'CX_CLIENT_ID')
  const clientSecret = str(env, 'CX_CLIENT_SECRET')
  const username = str(env, 'CX_USERNAME')
  const password = str(env, 'CX_PASSWORD')
  const apiToken = str(env, 'CX_API_TOKEN')
  const rest = {
    senderId: str(env, 'CX_SENDER_ID') ?? 'cx-recording-gateway',
    activityType: str(env, 'CX_ACTIVITY_TYPE') ?? 'VOICE_RECORDING',
    concurrency: int(env, 'CX_CONCURRENCY', 4, 1, 1000),
    timeoutMs: int(env, 'CX_TIMEOUT_MS', 10_000, 1, MAX_TIMER_MS),
    maxPagesPerWindow: int(env, 'CX_MAX_PAGES_PER_WINDOW', 200, 1, 100_000)
  }
  if (baseUrl === null) return null
  if (apiToken !== null) return { baseUrl, auth: { kind: 'static', token: apiToken }, ...rest }
  const missing = (name: string): never => {
    throw new ConfigError(name, 'required when CX_BASE_URL is set and CX_API_TOKEN is not')
  }
  const auth: CxAuth = {
    kind: 'keycloak',
    tokenUrl: tokenUrl ?? missing('CX_TOKEN_URL'),
    clientId: clientId ?? missing('CX_CLIENT_ID'),
    clientSecret,
    username: username ?? missing('CX_USERNAME'),
    password: password ?? missing('CX_PASSWORD')
  }
  return { baseUrl, auth, ...rest }
}

export function loadConfig(rawEnv: Env = process.env): Config {
  const warnings: string[] = []
  const env = withRenamed(rawEnv, warnings)
  const recorder = recorderConfig(env)
  const port = int(env, 'PORT', 3000, 0, 65535)
  const vendorConcurrency = int(env, 'VENDOR_CONCURRENCY', 8, 1, 1000)
  const processingDelayS = int(env, 'PROCESSING_DELAY_S', 600, 0)

  const cx = cxConfig(env)
  const pushEnabled = cx !== null

  const publicBaseUrl = url(env, 'PUBLIC_BASE_URL') ?? `http://localhost:${port}`
  if (pushEnabled && str(env, 'PUBLIC_BASE_URL') === null) {
    throw new ConfigError('PUBLIC_BASE_URL', 'required when CX_BASE_URL is set: pushed links must reach this service')
  }

  const linkKey = str(env, 'LINK_SIGNING_KEY')
  if (linkKey !== null && linkKey.length < 16) {
    throw new ConfigError('LINK_SIGNING_KEY', 'must be at least 16 characters')
  }
  const oldKeys = (str(env, 'LINK_SIGNING_KEYS_OLD') ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '')

  return {
    port,
    host: str(env, 'HOST') ?? '0.0.0.0',
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    instanceId: str(env, 'INSTANCE_ID') ?? `${hostname()}:${process.pid}`,
    recorder,
    legCacheTtlMs: int(env, 'LEG_CACHE_TTL_MS', 30_000, 0),
    retrieval: {
      maxSegmentsPerLeg: int(env, 'MAX_SEGMENTS_PER_LEG', 1000, 1, 1_000_000),
      maxRecordingBytes: int(env, 'MAX_RECORDING_BYTES', 16 * 1024 ** 3, 1),
      maxConcurrentStreams: int(env, 'MAX_CONCURRENT_STREAMS', 200, 1, 100_000),
      sendTimeoutMs: int(env, 'SEND_TIMEOUT_MS', 60_000, 0, MAX_TIMER_MS),
      cacheMaxBytes: int(env, 'LEG_CACHE_MAX_BYTES', 64 * 1024 * 1024, 1024)
    },
    cx,
    publicBaseUrl,
    push: {
      vendorConcurrency,
      processingDelayS,
      intervalS: int(env, 'PUSH_INTERVAL_S', 60, 1, Math.floor(MAX_TIMER_MS / 1000)),
      defaultWindowS: int(env, 'PUSH_DEFAULT_WINDOW_S', 3600, 1),
      maxWindowS: int(env, 'PUSH_MAX_WINDOW_S', 3600, 1),
      matchToleranceMs: int(env, 'MATCH_TOLERANCE_MS', 5000, 0),
      pendingMaxAgeS: int(env, 'PENDING_MAX_AGE_S', 86_400, 1),
      ledgerRetentionDays: int(env, 'LEDGER_RETENTION_DAYS', 90, 1, 3650)
    },
    stateDir: str(env, 'STATE_DIR') ?? './data',
    stateDirLockStaleS: int(env, 'STATE_DIR_LOCK_STALE_S', 30, 1, 86_400),
    stateDatabaseUrl: url(env, 'STATE_DATABASE_URL'),
    stateDatabaseTimeoutMs: int(env, 'STATE_DATABASE_TIMEOUT_MS', 10_000, 100, MAX_TIMER_MS),
    adminToken: str(env, 'ADMIN_TOKEN'),
    linkSigning: { key: linkKey, oldKeys },
    rateLimit: {
      max: int(env, 'RATE_LIMIT_MAX', 300, 1),
      windowMs: int(env, 'RATE_LIMIT_WINDOW_MS', 60_000, 1)
    },
    pressure: {
      maxEventLoopDelayMs: int(env, 'MAX_EVENT_LOOP_DELAY_MS', 1000, 0),
      maxHeapUsedBytes: int(env, 'MAX_HEAP_USED_BYTES', 0, 0),
      maxRssBytes: int(env, 'MAX_RSS_BYTES', 0, 0)
    },
    healthCheckIntervalMs: int(env, 'HEALTH_CHECK_INTERVAL_MS', 10_000, 100, MAX_TIMER_MS),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 30_000, 0, MAX_TIMER_MS),
    trustProxy: trustProxy(env),
    metricsToken: str(env, 'METRICS_TOKEN'),
    corsOrigins: corsOrigins(env),
    warnings
  }
}
