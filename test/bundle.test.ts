import { execFile } from 'node:child_process'
import { cp, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { listeningOrigin, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js'
import { soxConcat, soxSamples, tempDir, type Teardownable } from './helpers/sox.js'
import { gatewayConfig, makeHoldCall, SIM_PASSWORD, SIM_USER } from './recordings-setup.js'
import { buildApp } from '../src/app.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'

/*
 * The production build's one-file bundle (scripts/bundle.mjs, loaded by dist/src/server.js with its V8
 * code cache): built for real from a copy of the sources, then started as production starts it. It must
 * serve exactly what the modules serve, say in its `started` line how its code was loaded, and start
 * whatever happened to the cache beside it.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)

async function buildCopy(t: Teardownable): Promise<string> {
  const dir = await tempDir(t, 'cxgw-bundle-')
  for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'openapi.yaml', 'src', 'plugins', 'routes', 'simulators', 'scripts']) {
    await cp(join(ROOT, f), join(dir, f), { recursive: true })
  }
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  await run('npm', ['run', '--silent', 'build'], { cwd: dir, timeout: 300_000 })
  return dir
}

function startedLine(gw: GatewayProcess): { code?: string; startupMs?: number } | undefined {
  for (const line of gw.lines) {
    if (!line.startsWith('{')) continue
    const entry = JSON.parse(line) as { msg?: string; code?: string; startupMs?: number }
    if (entry.msg === 'started') return entry
  }
  return undefined
}

t.test('the built bundle', async (t) => {
  const dir = await buildCopy(t)
  const entry = join(dir, 'dist/src/server.js')
  const bundle = join(dir, 'dist/bundle/server.cjs')

  const work = await tempDir(t, 'cxgw-bundle-audio-')
  const call = await makeHoldCall(work, 'bundle-call')
  const sim = await startEleveoSimulator({ username: SIM_USER, password: SIM_PASSWORD, legs: call.legs })
  t.teardown(() => sim.close())
  const env = {
    RECORDING_VENDOR: 'eleveo',
    ELEVEO_BASE_URL: sim.url,
    ELEVEO_USERNAME: SIM_USER,
    ELEVEO_PASSWORD: SIM_PASSWORD,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info'
  }
  const reference = await soxSamples(await soxConcat(call.paths, join(work, 'reference.wav')))
  const modules = await buildApp({ config: gatewayConfig(sim.url), logger: false })
  t.teardown(() => modules.close())
  const fromModules = (await modules.inject({ url: `/recordings/${encodeURIComponent(call.legId)}` })).rawPayload

  async function startBuilt(t: Teardownable, name: string): Promise<{ gw: GatewayProcess; origin: string }> {
    const gw = startGatewayProcess(t, name, { ...env, STATE_DIR: join(work, `state-${name}`) }, { entry })
    return { gw, origin: await listeningOrigin(gw) }
  }

  t.test('with its code cache: serves the same bytes as the modules, errors and documents alike', async (t) => {
    const { gw, origin } = await startBuilt(t, 'cached')
    const res = await fetch(`${origin}/recordings/${encodeURIComponent(call.legId)}`)
    t.equal(res.status, 200)
    const body = Buffer.from(await res.arrayBuffer())
    t.ok(body.equals(fromModules), `the bundle's ${body.length} bytes equal the modules' ${fromModules.length}`)
    const served = join(work, 'served.wav')
    await writeFile(served, body)
    t.same(await soxSamples(served), reference, "sample by sample, sox's concatenation of the three parts")

    const unknown = await fetch(`${origin}/recordings/${encodeURIComponent('no-such-call:1001:+41441234567:1772445600000')}`)
    t.equal(unknown.status, 404, 'an unknown call: 404 (error classes are the bundle\'s own, instanceof holds)')
    t.match(await unknown.json(), { statusCode: 404, error: 'Not Found', message: String })
    const doc = await fetch(`${origin}/openapi.json`)
    t.equal(doc.status, 200, 'the OpenAPI document is found from dist/bundle/ (import.meta.url defined for the bundle)')
    t.match(await doc.json(), { openapi: /^3\./, paths: { '/recordings/{legId}': Object } })
    t.match(startedLine(gw), { code: 'used', startupMs: Number }, 'the started line says the code cache was used')
  })

  t.test('a damaged code cache: V8 refuses it, the service starts anyway and says so', async (t) => {
    await writeFile(`${bundle}.cache`, Buffer.from('not a code cache'))
    const { gw, origin } = await startBuilt(t, 'damaged')
    t.equal((await fetch(`${origin}/health/live`)).status, 200)
    t.match(startedLine(gw), { code: 'rejected' })
    t.ok(gw.lines.some((l) => l.includes('"level":40') && l.includes('code cache')), 'a warning names the code cache and the fix')
  })

  t.test('no code cache: starts, compiling as it goes', async (t) => {
    await rm(`${bundle}.cache`)
    const { gw, origin } = await startBuilt(t, 'absent')
    t.equal((await fetch(`${origin}/recordings/${encodeURIComponent(call.legId)}`)).status, 200)
    t.match(startedLine(gw), { code: 'absent' })
  })

  t.test('no bundle (tsc output only): the modules are loaded', async (t) => {
    await rm(join(dir, 'dist/bundle'), { recursive: true })
    const { gw, origin } = await startBuilt(t, 'modules')
    const res = await fetch(`${origin}/recordings/${encodeURIComponent(call.legId)}`)
    t.ok(Buffer.from(await res.arrayBuffer()).equals(fromModules))
    t.match(startedLine(gw), { code: 'modules' })
  })
})
