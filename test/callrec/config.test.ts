import { once } from 'node:events'
import t from 'tap'
import { ConfigError, DEFAULT_CALLREC_LEGS_QUERY, loadConfig } from '../../src/config.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'

const CALLREC = {
  ELEVEO_BASE_URL: 'http://callrec.example:8080',
  ELEVEO_API: 'callrec',
  ELEVEO_USERNAME: 'reader',
  ELEVEO_PASSWORD: 'pw',
  ELEVEO_DATABASE_URL: 'postgres://ro@callrec-db.example/callrec'
}

t.test('ELEVEO_API=callrec: the Eleveo variant with its settings and defaults', async (t) => {
  t.match(loadConfig({ ELEVEO_BASE_URL: 'http://127.0.0.1:9' }).recorder, { vendor: 'eleveo', api: 'rest' }, 'rest by default')
  t.same(loadConfig(CALLREC).recorder, {
    vendor: 'eleveo',
    api: 'callrec',
    baseUrl: 'http://callrec.example:8080',
    username: 'reader',
    password: 'pw',
    timeoutMs: 10_000,
    databaseUrl: 'postgres://ro@callrec-db.example/callrec',
    dialogKey: 'JTAPI_CISCO_ID',
    legsQuery: DEFAULT_CALLREC_LEGS_QUERY,
    timeZone: 'UTC',
    holdMaxGapS: 900
  })
  t.match(
    loadConfig({ ...CALLREC, ELEVEO_DIALOG_KEY: 'CX_DIALOG', ELEVEO_TIMEZONE: 'europe/prague', ELEVEO_HOLD_MAX_GAP_S: '0', ELEVEO_LEGS_QUERY: 'select * from my_couples($1, $2)' }).recorder,
    { dialogKey: 'CX_DIALOG', timeZone: 'Europe/Prague', holdMaxGapS: 0, legsQuery: 'select * from my_couples($1, $2)' }
  )
})

t.test('each missing or bad CallREC setting names itself', async (t) => {
  const without = (name: keyof typeof CALLREC) => Object.fromEntries(Object.entries(CALLREC).filter(([k]) => k !== name))
  t.throws(() => loadConfig(without('ELEVEO_DATABASE_URL')), new ConfigError('ELEVEO_DATABASE_URL', "required when ELEVEO_API=callrec (CallREC's PostgreSQL; a read-only user is enough)"))
  t.throws(() => loadConfig(without('ELEVEO_USERNAME')), new ConfigError('ELEVEO_USERNAME', 'required when ELEVEO_API=callrec (the servlets need a login)'))
  t.throws(() => loadConfig(without('ELEVEO_PASSWORD')), new ConfigError('ELEVEO_PASSWORD', 'required when ELEVEO_API=callrec (the servlets need a login)'))
  t.throws(() => loadConfig({ ...CALLREC, ELEVEO_API: 'soap' }), new ConfigError('ELEVEO_API', 'expected one of rest, callrec, got "soap"'))
  t.throws(
    () => loadConfig({ ...CALLREC, ELEVEO_TIMEZONE: 'Europe/Atlantis' }),
    new ConfigError('ELEVEO_TIMEZONE', 'unknown time zone "Europe/Atlantis": expected an IANA name such as Europe/Prague or UTC')
  )
  t.throws(() => loadConfig({ ...CALLREC, ELEVEO_HOLD_MAX_GAP_S: '-1' }), new ConfigError('ELEVEO_HOLD_MAX_GAP_S', 'expected 0..86400, got -1'))
  t.throws(() => loadConfig({ ...CALLREC, ELEVEO_HOLD_MAX_GAP_S: '15m' }), new ConfigError('ELEVEO_HOLD_MAX_GAP_S', 'expected an integer, got "15m"'))
  t.throws(
    () => loadConfig({ ...CALLREC, ELEVEO_LEGS_QUERY: 'select * from couples where dialog = $1' }),
    new ConfigError('ELEVEO_LEGS_QUERY', 'must use $2 (the key, ELEVEO_DIALOG_KEY); both parameters are always sent')
  )
  t.throws(
    () => loadConfig({ ...CALLREC, ELEVEO_LEGS_QUERY: 'select * from couples where a = $10 and b = $2' }),
    new ConfigError('ELEVEO_LEGS_QUERY', 'must use $1 (the dialogId); both parameters are always sent'),
    '$10 is not $1'
  )
  t.throws(() => loadConfig({ ...CALLREC, ELEVEO_DATABASE_URL: 'mysql://callrec' }), { variable: 'ELEVEO_DATABASE_URL', message: /expected a postgres: or postgresql: URL/ })
  const err = (() => {
    try {
      loadConfig({ ...CALLREC, ELEVEO_DATABASE_URL: 'postgres://ro:Sup3r-secret@bad host/callrec' })
    } catch (e) {
      return e as Error
    }
    return null
  })()
  t.match(err, { variable: 'ELEVEO_DATABASE_URL' })
  t.notMatch(err?.message ?? '', /Sup3r-secret/, 'the password is not in the message')
  t.doesNotThrow(() => loadConfig({ ELEVEO_BASE_URL: 'http://127.0.0.1:9', ELEVEO_API: 'rest' }), 'rest needs none of them')
})

t.test('an unknown time zone stops the server with its name and exit code 1', async (t) => {
  const gw = startGatewayProcess(t, 'bad-zone', { ...CALLREC, ELEVEO_TIMEZONE: 'CET+1', HOST: '127.0.0.1', PORT: '0' })
  const [code] = (await once(gw.child, 'exit')) as [number | null]
  t.equal(code, 1)
  t.match(gw.lines.join(''), /Configuration error: ELEVEO_TIMEZONE: unknown time zone "CET\+1"/)
})
