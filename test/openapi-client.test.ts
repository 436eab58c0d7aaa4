import { execFile } from 'node:child_process'
import { copyFile, readFile, symlink, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript'
import t from 'tap'
import YAML from 'yaml'
import { findSpecification } from '../plugins/docs.js'
import { signLegId } from '../src/auth/link-signature.js'
import { makeTone, tempDir, type Teardownable } from './helpers/sox.js'
import { ADMIN_TOKEN, baseTime, cxLeg, eleveoLeg, legIdOf, startPushRig } from './push-rig.js'

/*
 * The gateway as an OpenAPI-generated client sees it: a typed client is generated from the served
 * /openapi.json (openapi-typescript + openapi-fetch), a small program written against it
 * (test/openapi-client/program.ts) is type-checked with tsc and run against the live gateway, calling
 * every documented operation. A path or field removed or renamed in the document breaks the compile; one
 * the server no longer answers as documented shows in what the program read.
 */

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
const KEY = 'openapi-client-signing-key-0123456789'
const METRICS_TOKEN = 'openapi-client-metrics-token-0123'
const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'] as const

interface Call {
  operation: string
  status: number
  seen: Record<string, unknown>
}

/** `METHOD /path/{template}` of every operation the document describes. */
function operations(doc: OpenAPI3): string[] {
  return Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.filter((m) => (item as Record<string, unknown>)[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`)
  )
}

/**
 * A directory holding the client generated from `doc`, the program, and a strict tsconfig; the
 * project's node_modules are linked in so the program resolves openapi-fetch and @types/node as an
 * integrator's project would.
 */
async function clientProject(t: Teardownable, doc: OpenAPI3): Promise<string> {
  const dir = await tempDir(t, 'cxgw-openapi-client-')
  await writeFile(join(dir, 'api.d.ts'), astToString(await openapiTS(doc)))
  await copyFile(join(ROOT, 'test/openapi-client/program.ts'), join(dir, 'program.ts'))
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023', 'DOM'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      noUnusedLocals: true,
      skipLibCheck: true,
      outDir: 'out'
    },
    include: ['program.ts', 'api.d.ts']
  }
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }))
  return dir
}

/** tsc's verdict: null when the program compiles, else its diagnostics. */
async function typeCheck(dir: string): Promise<string | null> {
  try {
    await run(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { cwd: dir })
    return null
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    return `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message
  }
}

/** A listening, ready gateway with pushing, signing, admin and metrics tokens on, and one HOLD-merged leg. */
async function gatewayWithAPushableLeg(t: Teardownable): Promise<{ url: string; legId: string; size: number }> {
  const dir = await tempDir(t, 'cxgw-openapi-client-audio-')
  const b = baseTime()
  const parts = [await makeTone(join(dir, 'a.wav'), { seconds: 0.5, freq: 400 }), await makeTone(join(dir, 'b.wav'), { seconds: 0.5, freq: 500 })]
  const activity = cxLeg('dlg-client', '1001', b)
  const rig = await startPushRig(t, {
    activities: [activity],
    legs: [
      { ...eleveoLeg('rec-0', 'dlg-client', '1001', b, b + 500, 'HOLD'), wavPath: parts[0] },
      { ...eleveoLeg('rec-1', 'dlg-client', '1001', b + 10_000, b + 10_500, 'HANGUP'), wavPath: parts[1] }
    ],
    env: { ADMIN_TOKEN, LINK_SIGNING_KEY: KEY, METRICS_TOKEN }
  })
  await rig.app.listen({ host: '127.0.0.1', port: 0 })
  await rig.app.readiness.refresh()
  const legId = legIdOf(activity)
  const head = await rig.app.inject({ method: 'HEAD', url: `/recordings/${encodeURIComponent(legId)}?sig=${signLegId(legId, KEY)}` })
  if (head.statusCode !== 200) throw new Error(`set-up: HEAD of the leg answered ${head.statusCode}`)
  return { url: `http://127.0.0.1:${(rig.app.server.address() as AddressInfo).port}`, legId, size: Number(head.headers['content-length']) }
}

t.test('a client generated from /openapi.json compiles and reads every route as documented', async (t) => {
  const gw = await gatewayWithAPushableLeg(t)
  const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as OpenAPI3
  const dir = await clientProject(t, doc)

  const diagnostics = await typeCheck(dir)
  t.equal(diagnostics, null, 'the program type-checks against the generated client')
  if (diagnostics !== null) return

  const { stdout } = await run(process.execPath, [join(dir, 'out/program.js')], {
    cwd: dir,
    env: { ...process.env, GATEWAY_URL: gw.url, ADMIN_TOKEN, METRICS_TOKEN, LEG_ID: gw.legId, LEG_SIG: signLegId(gw.legId, KEY) }
  })
  const { calls } = JSON.parse(stdout) as { calls: Call[] }
  const by = new Map(calls.map((c) => [c.operation, c]))
  t.same([...by.keys()].sort(), operations(doc).sort(), 'the program called every documented operation, and only those')

  t.match(by.get('GET /health/live'), { status: 200, seen: { status: 'ok' } }, 'live')
  t.match(by.get('GET /health/ready'), { status: 200, seen: { status: 'ok', checks: { vendor: 'ok', pressure: 'ok' } } }, 'ready, by check')
  const metrics = by.get('GET /metrics')
  t.equal(metrics?.status, 200, 'metrics with the token')
  for (const name of ['gateway_http_requests_total', 'gateway_pending_legs', 'gateway_push_runs_total']) {
    t.ok((metrics?.seen.metrics as string[] | undefined)?.includes(name), `/metrics has ${name}`)
  }
  t.match(by.get('GET /openapi.json'), { status: 200, seen: { keys: ['components', 'info', 'openapi', 'paths', 'servers', 'tags'] } }, 'the document as JSON')
  t.match(by.get('GET /openapi.yaml'), { status: 200, seen: { firstLine: /^openapi: 3\./ } }, 'the document as YAML')

  const started = by.get('POST /admin/push-runs')
  t.match(started, { status: 202, seen: { trigger: 'manual', status: 'running', location: '/admin/push-runs/latest' } }, 'a manual run started')
  t.match(
    by.get('GET /admin/push-runs/latest'),
    { status: 200, seen: { id: started?.seen.id, status: 'ok', trigger: 'manual', pushed: 1, windows: 1, windowsDone: 1 } },
    'the run the program started, finished, with the one link pushed'
  )

  t.match(by.get('GET /recordings/{legId}'), { status: 206, seen: { bytes: 100, contentRange: `bytes 0-99/${gw.size}`, riff: 'RIFF' } }, 'the first 100 bytes of the merged WAV')
  t.match(by.get('HEAD /recordings/{legId}'), { status: 200, seen: { contentLength: String(gw.size) } }, 'HEAD: the whole size')
  t.match(by.get('HEAD /recordings/{legId}')?.seen.etag, /^"/, 'HEAD carries the ETag')
})

t.test('the type-check has teeth: a route or a field missing from the document fails the compile', async (t) => {
  // The document as it would read had someone dropped a route and renamed a field of the run report.
  const drifted = YAML.parse(await readFile(findSpecification(), 'utf8')) as OpenAPI3
  delete drifted.paths?.['/health/live']
  const report = drifted.components?.schemas?.PushRunReport as { properties: Record<string, unknown> }
  report.properties.linksPushed = report.properties.pushed
  delete report.properties.pushed

  const diagnostics = await typeCheck(await clientProject(t, drifted))
  t.not(diagnostics, null, 'tsc refuses the program')
  const program = (await readFile(join(ROOT, 'test/openapi-client/program.ts'), 'utf8')).split('\n')
  const liveLine = program.findIndex((l) => l.includes("client.GET('/health/live')")) + 1
  t.ok(liveLine > 0, 'the program calls /health/live')
  t.match(diagnostics, new RegExp(`^program\\.ts\\(${liveLine},\\d+\\): error`, 'm'), `an error at the /health/live call (line ${liveLine})`)
  t.match(diagnostics, /Property 'pushed' does not exist/, 'and at the renamed field')
})
