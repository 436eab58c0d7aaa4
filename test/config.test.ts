import { once } from 'node:events'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { startGatewayProcess } from './helpers/gateway-process.js'

/*
 * Configuration from the environment: a bad value stops start-up with its name, before anything runs.
 */

const BASE = { ELEVEO_BASE_URL: 'http://127.0.0.1:9' }
const PUSH = {
  ...BASE,
  CX_BASE_URL: 'http://127.0.0.1:9/conversation-manager',
  CX_API_TOKEN: 'static-cx-token',
  PUBLIC_BASE_URL: 'https://gateway.example.com'
}

/** Node's timers hold at most 2^31 - 1 ms; a longer delay silently becomes 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1

t.test('settings that become timers are refused beyond what a Node timer holds', async (t) => {
  const cases: Array<[name: string, min: number, max: number]> = [
    ['ELEVEO_TIMEOUT_MS', 1, MAX_TIMER_MS],
    ['CX_TIMEOUT_MS', 1, MAX_TIMER_MS],
    ['HEALTH_CHECK_INTERVAL_MS', 100, MAX_TIMER_MS],
    ['SHUTDOWN_TIMEOUT_MS', 0, MAX_TIMER_MS],
    ['PUSH_INTERVAL_S', 1, Math.floor(MAX_TIMER_MS / 1000)]
  ]
  for (const [name, min, max] of cases) {
    t.doesNotThrow(() => loadConfig({ ...PUSH, [name]: String(max) }), `${name}=${max} is accepted`)
    t.throws(
      () => loadConfig({ ...PUSH, [name]: String(max + 1) }),
      new ConfigError(name, `expected ${min}..${max}, got ${max + 1}`),
      `${name}=${max + 1} names itself`
    )
  }
  const config = loadConfig({ ...PUSH, CX_TIMEOUT_MS: String(MAX_TIMER_MS), PUSH_INTERVAL_S: '2147483' })
  t.equal(config.cx?.timeoutMs, MAX_TIMER_MS)
  t.equal(config.push.intervalS, 2147483)
})

t.test('a bad value names its variable; credentials in URLs are masked', async (t) => {
  t.throws(() => loadConfig({}), new ConfigError('ELEVEO_BASE_URL', 'required when RECORDING_VENDOR=eleveo'))
  t.throws(() => loadConfig({ ...BASE, PORT: 'eighty' }), new ConfigError('PORT', 'expected an integer, got "eighty"'))
  t.throws(() => loadConfig({ ...BASE, CX_CONCURRENCY: '0' }), new ConfigError('CX_CONCURRENCY', 'expected 1..1000, got 0'))
  const { CX_API_TOKEN: _token, ...keycloak } = PUSH
  t.throws(() => loadConfig(keycloak), { name: 'ConfigError', variable: 'CX_TOKEN_URL' }, 'Keycloak settings required without CX_API_TOKEN')
  const { PUBLIC_BASE_URL: _public, ...noPublic } = PUSH
  t.throws(() => loadConfig(noPublic), { name: 'ConfigError', variable: 'PUBLIC_BASE_URL' })
  let err: unknown
  try {
    loadConfig({ ...BASE, STATE_DATABASE_URL: 'postgres://gw:s3cret-pw@db host/x' })
  } catch (e) {
    err = e
  }
  t.match(err, { name: 'ConfigError', variable: 'STATE_DATABASE_URL' })
  t.notMatch(String((err as Error).message), /s3cret-pw/, 'the password is not in the message')
})

t.test('the server process stops at a bad value with its name and exit code 1', async (t) => {
  const gw = startGatewayProcess(t, 'bad-config', { ...PUSH, HOST: '127.0.0.1', PORT: '0', PUSH_INTERVAL_S: String(30 * 86_400) })
  const [code] = (await once(gw.child, 'exit')) as [number | null]
  t.equal(code, 1)
  t.match(gw.lines.join(''), /Configuration error: PUSH_INTERVAL_S: expected 1\.\.2147483, got 2592000/)
})

t.test('VENDOR_CONCURRENCY and PROCESSING_DELAY_S: the old ELEVEO_* names still work, with a warning at start-up', async (t) => {
  const renamed = loadConfig({ ...BASE, VENDOR_CONCURRENCY: '3', PROCESSING_DELAY_S: '30' })
  t.match(renamed.push, { vendorConcurrency: 3, processingDelayS: 30 })
  t.same(renamed.warnings, [])

  const old = loadConfig({ ...BASE, ELEVEO_CONCURRENCY: '5', ELEVEO_PROCESSING_DELAY_S: '45' })
  t.match(old.push, { vendorConcurrency: 5, processingDelayS: 45 }, 'old names keep their meaning')
  t.same(old.warnings, [
    'ELEVEO_CONCURRENCY is deprecated: set VENDOR_CONCURRENCY instead (same meaning, it applies to every vendor)',
    'ELEVEO_PROCESSING_DELAY_S is deprecated: set PROCESSING_DELAY_S instead (same meaning, it applies to every vendor)'
  ])
  t.throws(() => loadConfig({ ...BASE, ELEVEO_CONCURRENCY: '0' }), new ConfigError('VENDOR_CONCURRENCY', 'expected 1..1000, got 0'))

  const both = loadConfig({ ...BASE, VENDOR_CONCURRENCY: '2', ELEVEO_CONCURRENCY: '9' })
  t.equal(both.push.vendorConcurrency, 2, 'the new name wins')
  t.same(both.warnings, ['ELEVEO_CONCURRENCY is deprecated and ignored: VENDOR_CONCURRENCY is set'])

  const lines: Array<{ level: number; msg: string }> = []
  const app = await buildApp({
    config: old,
    logger: { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) } }
  })
  t.teardown(() => app.close())
  const warned = lines.filter((l) => l.level === 40 && /is deprecated/.test(l.msg)).map((l) => l.msg)
  t.same(warned, old.warnings, 'each is logged once at start-up, as a warning')
})

t.test('EFSwitch: query deadline, index size, and the parameters a path query may use', async (t) => {
  const EFSWITCH = { RECORDING_VENDOR: 'efswitch', EFSWITCH_DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/fusionpbx', EFSWITCH_RECORDINGS_ROOT: '/recordings' }
  const efswitchOf = (env: Record<string, string>) => {
    const recorder = loadConfig(env).recorder
    if (recorder.vendor !== 'efswitch') throw new Error('expected the EFSwitch recorder')
    return recorder
  }
  const defaults = efswitchOf(EFSWITCH)
  t.equal(defaults.queryTimeoutMs, 5000)
  t.equal(defaults.indexMaxEntries, 500_000)
  t.match(defaults.pathQuery, /sip_h_X-CALL-ID' = \$1 or xml_cdr_uuid = \$2::uuid/)
  const set = efswitchOf({ ...EFSWITCH, EFSWITCH_QUERY_TIMEOUT_MS: '750', EFSWITCH_INDEX_MAX_ENTRIES: '0' })
  t.same([set.queryTimeoutMs, set.indexMaxEntries], [750, 0])
  t.throws(() => loadConfig({ ...EFSWITCH, EFSWITCH_QUERY_TIMEOUT_MS: '0' }), new ConfigError('EFSWITCH_QUERY_TIMEOUT_MS', `expected 1..${MAX_TIMER_MS}, got 0`))
  t.throws(() => loadConfig({ ...EFSWITCH, EFSWITCH_INDEX_MAX_ENTRIES: '-1' }), new ConfigError('EFSWITCH_INDEX_MAX_ENTRIES', 'expected 0..100000000, got -1'))

  const legacy = 'select record_path from v_xml_cdr where xml_cdr_uuid = $1::uuid'
  t.equal(efswitchOf({ ...EFSWITCH, EFSWITCH_PATH_QUERY: legacy }).pathQuery, legacy, 'a query of the first release still works')
  t.throws(
    () => loadConfig({ ...EFSWITCH, EFSWITCH_PATH_QUERY: 'select record_path from v_xml_cdr where xml_cdr_uuid = $2::uuid' }),
    new ConfigError('EFSWITCH_PATH_QUERY', 'must use $1 (the dialogId)')
  )
  t.throws(
    () => loadConfig({ ...EFSWITCH, EFSWITCH_PATH_QUERY: 'select record_path from v_xml_cdr where a = $1 and b = $3' }),
    new ConfigError('EFSWITCH_PATH_QUERY', 'may use only $1 (the dialogId) and $2 (the dialogId if it is a UUID, else null), not $3')
  )
})
