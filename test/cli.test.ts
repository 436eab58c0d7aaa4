import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { startCxSimulator, type CxSimulator } from '../simulators/cx.js'
import { startEleveoSimulator, type EleveoSimulator } from '../simulators/eleveo.js'
import { startCallrecDemo } from '../src/demo/callrec.js'
import { migrate } from '../src/state/migrations.js'
import { startPostgres } from './helpers/postgres.js'
import { tempDir } from './helpers/sox.js'
import { ADMIN_TOKEN, CX_SECRETS, ELEVEO_PASSWORD, cxLeg, eleveoLeg, pushEnv, startPushRig } from './push-rig.js'

/*
 * The operator's command line as an operator runs it: a child process reading its environment, against
 * the CX and Eleveo simulators, a real PostgreSQL and a running gateway. Its output is what is asserted:
 * one ✓/✗ line per check with the fix, exit codes, progress and summary of a backfill.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'src/cli/main.ts')
const SIGNING_KEY = 'cli-test-signing-key-0123456789'
/** The escape character that starts terminal control sequences. */
const ESC = String.fromCharCode(27)

interface Ran {
  code: number
  stdout: string
  stderr: string
}

/** `cx-recording-gateway <args>` with exactly this environment (plus PATH). */
function cli(args: string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

/** The same, on a pseudo-terminal (util-linux `script`), as an operator's shell runs it. */
function cliOnTerminal(args: string[], env: Record<string, string>): Promise<Ran> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
  const command = [process.execPath, '--import', 'tsx', CLI, ...args].map(quote).join(' ')
  return new Promise((resolve) => {
    execFile('script', ['-qefc', command, '/dev/null'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

/** Doctor lines by check name: its mark and the rest. */
function checks(stdout: string): Map<string, { mark: string; text: string }> {
  const out = new Map<string, { mark: string; text: string }>()
  for (const m of stdout.matchAll(/^([✓✗-]) (\S+(?: \S+)*?)\s{2,}(.*(?:\n {3,}fix: .*)?)/gm)) out.set(m[2]!, { mark: m[1]!, text: m[3]! })
  return out
}

const CHECK_NAMES = ['configuration', 'CX token', 'recording system', 'state store', 'signing key']

async function simulators(t: Test): Promise<{ cx: CxSimulator; eleveo: EleveoSimulator }> {
  const cx = await startCxSimulator({ clientSecret: CX_SECRETS.clientSecret, password: CX_SECRETS.password })
  t.teardown(() => cx.close())
  const eleveo = await startEleveoSimulator({ password: ELEVEO_PASSWORD })
  t.teardown(() => eleveo.close())
  return { cx, eleveo }
}

function secretsIn(text: string): string[] {
  return [CX_SECRETS.password, CX_SECRETS.clientSecret, ELEVEO_PASSWORD, SIGNING_KEY].filter((s) => text.includes(s))
}

t.test('doctor: every check passes against working systems; exit 0', async (t) => {
  const { cx, eleveo } = await simulators(t)
  const stateDir = join(await tempDir(t, 'cxgw-cli-'), 'state')
  const res = await cli(['doctor'], pushEnv(cx, eleveo, stateDir, { LINK_SIGNING_KEY: SIGNING_KEY, LINK_SIGNING_KEYS_OLD: 'an-older-signing-key-0123' }))
  t.equal(res.code, 0, 'exit 0')
  const lines = checks(res.stdout)
  t.same([...lines.keys()], CHECK_NAMES, 'one line per check, in order')
  for (const [name, line] of lines) t.equal(line.mark, '✓', `${name}: ${line.text}`)
  t.match(lines.get('CX token')?.text, /Keycloak password grant .*accepts the token/)
  t.match(lines.get('recording system')?.text, new RegExp(`Eleveo \\(rest\\) at ${eleveo.url} answers`))
  t.match(lines.get('state store')?.text, new RegExp(`file store in ${stateDir} is writable`))
  t.match(lines.get('signing key')?.text, /1 previous key still accepted/)
  t.ok(cx.issued.length >= 1, 'the token was really asked of Keycloak')
  t.ok(cx.requests.some((r) => r.url.startsWith('/conversation-manager/voice-activities') && r.status === 200), '… and shown to CX')
  t.same(secretsIn(res.stdout + res.stderr), [], 'no secret is printed')
})

t.test('doctor: each broken part gets its ✗ and its fix; exit 1', async (t) => {
  const { cx } = await simulators(t)
  const dir = await tempDir(t, 'cxgw-cli-')
  // A state directory "inside" a regular file cannot be created, whoever runs the test (root included).
  await writeFile(join(dir, 'a-file'), 'x')
  const closed = await startEleveoSimulator({})
  await closed.close()
  const env = pushEnv(cx, closed, join(dir, 'a-file', 'state'), { CX_PASSWORD: 'not-the-password' })
  const res = await cli(['doctor'], env)
  t.equal(res.code, 1)
  const lines = checks(res.stdout)
  t.same([...lines.keys()], CHECK_NAMES)
  t.equal(lines.get('configuration')?.mark, '✓')
  t.match(lines.get('CX token'), { mark: '✗', text: /fix: check CX_TOKEN_URL, CX_CLIENT_ID, CX_CLIENT_SECRET, CX_USERNAME and CX_PASSWORD/ })
  t.match(lines.get('recording system'), { mark: '✗', text: /ECONNREFUSED[^]*fix: check ELEVEO_BASE_URL/ })
  t.match(lines.get('state store'), { mark: '✗', text: /is not writable \(ENOTDIR\)[^]*fix: point STATE_DIR at a writable directory/ })
  t.match(lines.get('signing key'), { mark: '✗', text: /LINK_SIGNING_KEY is not set[^]*fix: set LINK_SIGNING_KEY/ })
  t.same(secretsIn(res.stdout + res.stderr), [], 'no secret is printed')
  t.notMatch(res.stdout, /not-the-password/, 'not even the wrong one')
})

t.test('doctor: a configuration that does not load stops the other checks', async (t) => {
  const { cx, eleveo } = await simulators(t)
  const { PUBLIC_BASE_URL: _omitted, ...env } = pushEnv(cx, eleveo, '/nonexistent')
  const res = await cli(['doctor'], env)
  t.equal(res.code, 1)
  const lines = checks(res.stdout)
  t.match(lines.get('configuration'), { mark: '✗', text: /PUBLIC_BASE_URL: required when CX_BASE_URL is set[^]*fix: set PUBLIC_BASE_URL/ })
  for (const name of CHECK_NAMES.slice(1)) t.match(lines.get(name), { mark: '-', text: /not checked/ }, name)
  t.equal(cx.issued.length, 0, 'nothing was asked of CX')
})

t.test('doctor: PostgreSQL state store — not migrated, migrated, migrated but read-only', async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const { cx, eleveo } = await simulators(t)
  const url = await pg.createDatabase('doctor')
  const env = (databaseUrl: string): Record<string, string> =>
    pushEnv(cx, eleveo, '/nonexistent', { STATE_DATABASE_URL: databaseUrl, LINK_SIGNING_KEY: SIGNING_KEY })

  const fresh = await cli(['doctor'], env(url))
  t.equal(fresh.code, 1)
  t.match(checks(fresh.stdout).get('state store'), { mark: '✗', text: /no migrations applied yet[^]*fix: start the gateway once/ })

  const sql = postgres(url, { max: 1, onnotice: () => undefined })
  t.teardown(() => sql.end({ timeout: 1 }))
  await migrate(sql)
  const migrated = await cli(['doctor'], env(url))
  t.equal(migrated.code, 0, 'exit 0 once migrated')
  t.match(checks(migrated.stdout).get('state store'), { mark: '✓', text: /migrations 1\.\.\d+ applied, 5 tables writable/ })

  await sql.unsafe('create role reader login')
  await sql.unsafe('grant select on all tables in schema public to reader')
  const readOnly = new URL(url)
  readOnly.username = 'reader'
  const denied = await cli(['doctor'], env(readOnly.toString()))
  t.equal(denied.code, 1)
  t.match(checks(denied.stdout).get('state store'), { mark: '✗', text: /this user may not write push_cursor, push_ledger, push_failed, push_pending, push_run_reports[^]*fix: grant/ })
})

t.test('doctor: Eleveo as CallREC — servlet login and database', async (t) => {
  const callrec = await startCallrecDemo(Date.now())
  t.teardown(() => callrec.close())
  const env = { ...callrec.env, RECORDING_VENDOR: 'eleveo', LINK_SIGNING_KEY: SIGNING_KEY }
  const good = await cli(['doctor'], env)
  t.equal(good.code, 0, 'exit 0')
  t.match(checks(good.stdout).get('recording system'), { mark: '✓', text: new RegExp(`CallREC servlets at ${callrec.servletsUrl}, database postgres://\\*\\*\\*@[^ ]+ answers`) })
  t.same(secretsIn(good.stdout), [], 'no secret is printed')

  const badLogin = await cli(['doctor'], { ...env, ELEVEO_PASSWORD: 'not-the-callrec-password' })
  t.equal(badLogin.code, 1)
  t.match(checks(badLogin.stdout).get('recording system'), { mark: '✗', text: /fix: check ELEVEO_BASE_URL, ELEVEO_USERNAME and ELEVEO_PASSWORD \(the servlet login\) and ELEVEO_DATABASE_URL/ })
  t.notMatch(badLogin.stdout, /not-the-callrec-password/)
})

t.test('backfill: the running gateway pushes a past period; progress as plain lines, then a summary', async (t) => {
  const base = Math.floor((Date.now() - 3 * 3600_000) / 60_000) * 60_000
  const starts = [base + 5 * 60_000, base + 25 * 60_000, base + 45 * 60_000]
  const rig = await startPushRig(t, {
    activities: starts.map((s, i) => cxLeg(`dlg-bf-${i}`, '1001', s)),
    legs: starts.map((s, i) => eleveoLeg(`rec-bf-${i}`, `dlg-bf-${i}`, '1001', s + 50, s + 30_000)),
    env: { ADMIN_TOKEN, PUSH_MAX_WINDOW_S: '600' }
  })
  await rig.app.listen({ host: '127.0.0.1', port: 0 })
  const port = (rig.app.server.address() as AddressInfo).port
  // The gateway's own environment, as `docker exec` or `kubectl exec` would give the command.
  const env = { ...pushEnv(rig.cx, rig.eleveo, rig.stateDir, { ADMIN_TOKEN }), PORT: String(port) }
  const from = new Date(base).toISOString()
  const to = new Date(base + 3600_000).toISOString()

  const res = await cli(['backfill', '--from', from, '--to', to], env)
  t.equal(res.code, 0, 'exit 0')
  t.notOk(res.stdout.includes('\r') || res.stdout.includes(ESC), 'no terminal control characters when not on a terminal')
  const id = /^Backfill (\S+) started on http:\/\/127\.0\.0\.1:\d+: /m.exec(res.stdout)?.[1]
  t.ok(id, 'says which run it started')
  t.match(res.stdout, new RegExp(`^backfill ${id}: 6/6 windows · 3 pushed · 0 pending · 0 failed$`, 'm'), 'progress lines end at all windows done')
  t.match(res.stdout, new RegExp(`^Backfill ${id} ok in [\\d.]+ s: 6 windows, 3 calls, 3 legs \\(3 matched\\), 3 pushed, 0 already pushed, 0 pending, 0 failed$`, 'm'))
  t.same(rig.cx.received.map((r) => r.legId.split(':')[0]).sort(), ['dlg-bf-0', 'dlg-bf-1', 'dlg-bf-2'], 'CX received the three links')

  const again = await cliOnTerminal(['backfill', '--from', from, '--to', to], env)
  t.equal(again.code, 0, 'exit 0 on a terminal too')
  t.ok(again.stdout.includes(`\r${ESC}[2K[${'█'.repeat(24)}] 6/6 windows · 0 pushed · 0 pending · 0 failed`), 'on a terminal: a bar redrawn in place, full at the end')
  t.match(again.stdout, /Backfill \S+ ok in [\d.]+ s: 6 windows, 0 calls, 3 legs \(0 matched\), 0 pushed, 3 already pushed/, 'a second backfill pushes nothing twice (nor asks Eleveo)')
  t.equal(rig.cx.received.length, 3)

  const wrongToken = await cli(['backfill', '--from', from, '--to', to], { ...env, ADMIN_TOKEN: 'not-the-admin-token' })
  t.equal(wrongToken.code, 1)
  t.match(wrongToken.stderr, /✗ the gateway refused the admin token \(401[^\n]*\n {2}fix: use the ADMIN_TOKEN the gateway runs with/)

  const gone = await startEleveoSimulator({})
  await gone.close()
  const nobody = await cli(['backfill', '--from', from, '--to', to, '--url', gone.url], env)
  t.equal(nobody.code, 1)
  t.match(nobody.stderr, new RegExp(`✗ no answer from the gateway at ${gone.url} \\(ECONNREFUSED\\)\n {2}fix: is it running\\?`), 'a gateway that is not there')

  for (const args of [['--from', 'yesterday', '--to', to], ['--from', to, '--to', from], ['--to', to], ['--from', from, '--to', to, '--force']]) {
    const bad = await cli(['backfill', ...args], env)
    t.equal(bad.code, 2, `backfill ${args.join(' ')}: usage error`)
    t.match(bad.stderr, /Usage:/)
  }
  t.equal(rig.cx.received.length, 3, 'refused invocations started nothing')
})
