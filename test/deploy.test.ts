import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cp, mkdir, readFile, stat, symlink } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import YAML from 'yaml'
import { documentedRoutes, fastifyPath, findSpecification } from '../plugins/docs.js'
import { startEleveoSimulator } from '../simulators/eleveo.js'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { Metrics } from '../src/metrics.js'
import { configVariables } from './helpers/config-variables.js'
import { startPostgres } from './helpers/postgres.js'
import { tempDir } from './helpers/sox.js'
import { eventually } from './helpers/eventually.js'

/*
 * The deployment files, checked without Docker or Helm (neither is on the machines that run the tests):
 * every variable they set is one src/config.ts reads, every path they probe is a documented route, the
 * chart's guards exist, the dashboard asks for metrics the gateway exports, and the Dockerfile's build
 * and entry point are run for real: `npm run build` on exactly the files its build stage copies, then
 * the entry point on exactly what its last stage keeps, probed with its own HEALTHCHECK command.
 */

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CHART = join(ROOT, 'deploy/helm/cx-recording-gateway')
const STATE_VOLUME = '/var/lib/cx-recording-gateway'

type Json = Record<string, unknown>

// ── Dockerfile ──────────────────────────────────────────────────────────────────────────────────

interface Instruction {
  op: string
  args: string
}

interface Stage {
  from: string
  name: string | null
  instructions: Instruction[]
}

/** Instructions by stage; continuation lines joined, comments dropped, `${ARG}` in FROM resolved. */
function parseDockerfile(text: string): { stages: Stage[]; args: Map<string, string> } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const args = new Map<string, string>()
  const stages: Stage[] = []
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    const upper = op.toUpperCase()
    if (upper === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)
      const from = (m?.[1] ?? '').replace(/\$\{(\w+)\}/g, (_all, name: string) => args.get(name) ?? '')
      stages.push({ from, name: m?.[2] ?? null, instructions: [] })
    } else if (upper === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = rest.split('=')
      args.set(name, value)
    } else {
      stages.at(-1)?.instructions.push({ op: upper, args: rest })
    }
  }
  return { stages, args }
}

function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args)
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec form: ${args}`)
  return parsed
}

/** `ENV A=1 B=2` */
function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>()
  for (const i of stage.instructions.filter((i) => i.op === 'ENV')) {
    for (const pair of i.args.split(/\s+/)) {
      const [k = '', v = ''] = pair.split('=')
      env.set(k, v)
    }
  }
  return env
}

/** `COPY [--from=x] src… dest` */
function copiesOf(stage: Stage): Array<{ from: string | null; sources: string[]; dest: string }> {
  return stage.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/)
      const from = words[0]?.startsWith('--from=') ? words.shift()!.slice('--from='.length) : null
      const dest = words.pop() ?? ''
      return { from, sources: words, dest }
    })
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

async function documentedGets(): Promise<Set<string>> {
  const doc: unknown = YAML.parse(await readFile(findSpecification(), 'utf8'))
  return new Set(documentedRoutes(doc).filter((r) => r.method === 'GET').map((r) => r.url))
}

t.test('Dockerfile: multi-stage on Node 20 slim, non-root, node as PID 1, health check, state volume', async (t) => {
  const { stages } = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'))
  const known = await configVariables()
  t.ok(stages.length >= 2, `${stages.length} stages`)
  const names = new Set(stages.map((s) => s.name).filter((n) => n !== null))
  for (const s of stages) t.ok(s.from === 'node:20-bookworm-slim' || names.has(s.from), `FROM ${s.from}: the slim Node 20 image`)
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  t.match(pkg.engines.node, /^>=20\./, 'package.json engines agree with the image: Node 20')

  const build = stages.find((s) => s.instructions.some((i) => i.op === 'RUN' && i.args.includes('npm run build')))
  t.ok(build, 'a stage runs npm run build')
  t.ok(build?.instructions.some((i) => i.op === 'RUN' && /npm ci(?!.*--omit=dev)/.test(i.args)), 'with dev dependencies')

  const final = stages.at(-1)!
  t.notOk(final.instructions.some((i) => i.op === 'RUN' && i.args.includes('npm ci')), 'the last stage installs nothing itself')
  const modules = copiesOf(final).find((c) => c.sources.some((s) => s.endsWith('node_modules')))
  const depsStage = stages.find((s) => s.name === modules?.from)
  t.ok(depsStage?.instructions.some((i) => i.op === 'RUN' && i.args.includes('npm ci --omit=dev')), 'its node_modules come from `npm ci --omit=dev`')

  const user = final.instructions.filter((i) => i.op === 'USER').at(-1)?.args
  t.ok(user !== undefined && !['root', '0', '0:0'].includes(user), `runs as ${user}, not root`)

  const entry = execForm(final.instructions.find((i) => i.op === 'ENTRYPOINT')?.args ?? 'null')
  t.same(entry.slice(0, 1), ['node'], 'exec-form ENTRYPOINT starting node itself (PID 1, gets SIGTERM, its exit code is the container\'s)')
  t.notOk(entry.some((a) => a.includes('npm')), 'not through npm')
  t.notOk(final.instructions.some((i) => i.op === 'CMD'), 'no CMD adding arguments')

  const health = final.instructions.find((i) => i.op === 'HEALTHCHECK')?.args ?? ''
  const healthCmd = execForm(health.slice(health.indexOf('CMD') + 3).trim())
  t.equal(healthCmd[0], 'node', 'HEALTHCHECK runs node (the slim image has no curl)')
  t.ok((await documentedGets()).has('/health/live'), '/health/live is a documented route')
  t.match(healthCmd.join(' '), /\/health\/live/, 'and the check asks /health/live')

  const env = envOf(final)
  for (const name of env.keys()) t.ok(known.has(name), `ENV ${name} is read by src/config.ts`)
  t.equal(env.get('STATE_DIR'), STATE_VOLUME)
  const volumes = final.instructions.filter((i) => i.op === 'VOLUME').flatMap((i) => execForm(i.args))
  t.ok(volumes.includes(STATE_VOLUME), 'STATE_DIR is a declared volume (the root file system can be read-only)')

  const ignored = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim())
  for (const p of ['node_modules', 'dist', '.git']) t.ok(ignored.includes(p), `.dockerignore keeps ${p} out of the context`)
  const copied = stages.flatMap((s) => copiesOf(s).filter((c) => c.from === null).flatMap((c) => c.sources))
  for (const p of copied) t.notOk(ignored.includes(p), `${p} is copied, so not ignored`)
})

t.test('Dockerfile: the build stage builds from what it copies, and the last stage runs and answers its health check', async (t) => {
  const { stages } = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'))
  const buildStage = stages.find((s) => s.instructions.some((i) => i.op === 'RUN' && i.args.includes('npm run build')))!
  const final = stages.at(-1)!
  const work = await tempDir(t, 'cxgw-docker-')

  // The build stage: only the files it copies, the project's installed node_modules in place of `npm ci`.
  const buildDir = join(work, 'build')
  await mkdir(buildDir)
  for (const c of copiesOf(buildStage)) {
    for (const src of c.sources) await cp(join(ROOT, src), join(buildDir, c.sources.length > 1 || c.dest.endsWith('/') ? src : c.dest), { recursive: true })
  }
  await symlink(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'), 'dir')
  await run('npm', ['run', 'build'], { cwd: buildDir })

  // The last stage: only what it copies from the build context and the other stages.
  const appDir = join(work, 'app')
  await mkdir(appDir)
  for (const c of copiesOf(final)) {
    for (const src of c.sources) {
      const dest = join(appDir, c.dest === './' ? src.split('/').pop()! : c.dest)
      if (src.endsWith('node_modules')) await symlink(join(ROOT, 'node_modules'), dest, 'dir')
      else if (c.from !== null) await cp(join(buildDir, src.replace(/^\/app\//, '')), dest, { recursive: true })
      else await cp(join(ROOT, src), dest, { recursive: true })
    }
  }

  // The operator's command line: the package's bin, built into the image and linked onto the PATH.
  const { bin } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }
  const cliFile = bin['cx-recording-gateway'] ?? ''
  const usage = await run(process.execPath, [join(appDir, cliFile), 'help'], { cwd: appDir })
  t.match(usage.stdout, /cx-recording-gateway doctor/, `the bin ${cliFile} runs from the image's files`)
  t.ok(
    final.instructions.some((i) => i.op === 'RUN' && i.args.includes(`ln -s /app/${cliFile} /usr/local/bin/cx-recording-gateway`)),
    'and is on the image\'s PATH'
  )

  // compose.yaml's simulators run another file of the same image.
  const compose = YAML.parse(await readFile(join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, { entrypoint?: string[] }> }
  const simulatorsEntry = compose.services.simulators?.entrypoint?.[1] ?? ''
  t.ok(await stat(join(appDir, simulatorsEntry)).then((s) => s.isFile(), () => false), `the image holds ${simulatorsEntry} (compose's simulators)`)

  const eleveo = await startEleveoSimulator({ username: 'eleveo', password: 'docker-test-secret' })
  t.teardown(() => eleveo.close())
  const port = await freePort()
  const env = {
    ...Object.fromEntries(envOf(final)),
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    STATE_DIR: join(work, 'state'),
    ELEVEO_BASE_URL: eleveo.url,
    ELEVEO_USERNAME: 'eleveo',
    ELEVEO_PASSWORD: 'docker-test-secret',
    HEALTH_CHECK_INTERVAL_MS: '500',
    LOG_LEVEL: 'warn'
  }
  const [command, ...args] = execForm(final.instructions.find((i) => i.op === 'ENTRYPOINT')!.args)
  t.equal(command, 'node')
  const server = spawn(process.execPath, args, { cwd: appDir, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = once(server, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => {
    if (server.exitCode === null) server.kill('SIGKILL')
  })

  const health = final.instructions.find((i) => i.op === 'HEALTHCHECK')!.args
  const [hcCommand, ...hcArgs] = execForm(health.slice(health.indexOf('CMD') + 3).trim())
  t.equal(hcCommand, 'node')
  let healthy = false
  for (let i = 0; i < 150 && !healthy && server.exitCode === null; i++) {
    healthy = await run(process.execPath, hcArgs, { env }).then(
      () => true,
      () => false
    )
    if (!healthy) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.ok(healthy, `the image's HEALTHCHECK passes against the built server${healthy ? '' : `: ${stderr}`}`)
  let ready = 0
  await eventually(async () => {
    ready = (await fetch(`http://127.0.0.1:${port}/health/ready`)).status
    return ready === 200
  })
  t.equal(ready, 200, 'and it becomes ready against the recording system')

  server.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'SIGTERM to the entry point: graceful exit, code 0')
})

// ── Helm chart ──────────────────────────────────────────────────────────────────────────────────

interface ChartValues {
  replicaCount: number
  config: Record<string, unknown>
  existingSecret: string
  secretEnv: Record<string, { key: string; name?: string }>
  shutdown: { timeoutSeconds: number; preStopSleepSeconds: number }
  livenessProbe: { httpGet: { path: string } }
  readinessProbe: { httpGet: { path: string } }
  startupProbe: { httpGet: { path: string } }
  podSecurityContext: Json
  securityContext: Json
  dashboard: { labels: Record<string, string> }
  ingress: { hosts: Array<{ paths: Array<{ path: string }> }> }
}

async function chartFile(rel: string): Promise<string> {
  return readFile(join(CHART, rel), 'utf8')
}

const TEMPLATES = ['_helpers.tpl', 'configmap.yaml', 'deployment.yaml', 'service.yaml', 'pdb.yaml', 'pvc.yaml', 'servicemonitor.yaml', 'ingress.yaml', 'dashboard-configmap.yaml']

/** Variables whose values are credentials or keys: they come from Secrets, never from values.yaml. */
const SECRET_NAME = /PASSWORD|SECRET|_TOKEN$|SIGNING_KEY|DATABASE_URL/

t.test('Helm chart: settings, secrets, probes and security context', async (t) => {
  const values = YAML.parse(await chartFile('values.yaml')) as ChartValues
  const known = await configVariables()
  const templates = (await Promise.all(TEMPLATES.map((f) => chartFile(`templates/${f}`)))).join('\n')

  for (const name of Object.keys(values.config)) {
    t.ok(known.has(name), `config.${name} is read by src/config.ts`)
    t.notMatch(name, SECRET_NAME, `config.${name} is not a credential`)
  }
  for (const [name, ref] of Object.entries(values.secretEnv)) {
    t.ok(known.has(name), `secretEnv.${name} is read by src/config.ts`)
    t.same(Object.keys(ref).filter((k) => k !== 'key' && k !== 'name'), [], `secretEnv.${name} names a Secret key, holds no value`)
  }
  const secretLike = [...known].filter((n) => SECRET_NAME.test(n))
  for (const name of secretLike) t.ok(name in values.secretEnv, `${name} can come from a Secret`)
  t.equal(values.existingSecret, '', 'no Secret name is assumed')
  const inTemplates = new Set([...templates.matchAll(/\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g)].map((m) => m[1]!))
  for (const name of ['PORT', 'HOST']) if (new RegExp(`^\\s+${name}:`, 'm').test(templates)) inTemplates.add(name)
  for (const name of inTemplates) t.ok(known.has(name), `${name} (templates) is read by src/config.ts`)
  t.match(templates, /envFrom:\s*\n\s*- configMapRef:/, 'the Deployment takes its environment from the ConfigMap')
  t.match(templates, /secretKeyRef:\s*\n\s*name: \{\{ \$secret \}\}\s*\n\s*key: \{\{ \$entry\.key \}\}/, 'and credentials from secretKeyRef')

  const documented = await documentedGets()
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const path = values[probe].httpGet.path
    t.ok(documented.has(path), `${probe} ${path} is a documented route`)
    t.match(templates, new RegExp(`${probe}:\\s*\\n\\s*\\{\\{- toYaml \\.Values\\.${probe}`), `the Deployment uses ${probe}`)
  }
  t.equal(values.livenessProbe.httpGet.path, '/health/live')
  t.equal(values.readinessProbe.httpGet.path, '/health/ready')
  t.match(templates, /path: \/metrics/, 'the ServiceMonitor scrapes /metrics')
  t.ok(documented.has('/metrics'), '/metrics is a documented route')
  for (const host of values.ingress.hosts) {
    for (const p of host.paths) t.ok([...documented].some((route) => route.startsWith(fastifyPath(p.path))), `ingress path ${p.path} leads to documented routes`)
  }

  t.match(values.podSecurityContext, { runAsNonRoot: true })
  t.match(values.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false })
  t.match(templates, /securityContext:\s*\n\s*\{\{- toYaml \.Values\.podSecurityContext/, 'pod security context applied')
  t.match(templates, /securityContext:\s*\n\s*\{\{- toYaml \.Values\.securityContext/, 'container security context applied')
  t.match(templates, new RegExp(`STATE_DIR: ${STATE_VOLUME}`), 'STATE_DIR is the mounted state volume')
  t.match(templates, new RegExp(`- name: state\\s*\\n\\s*mountPath: ${STATE_VOLUME}`), 'mounted there (emptyDir or PVC)')
  t.match(templates, /kind: PodDisruptionBudget/)
  t.match(templates, /resources:\s*\n\s*\{\{- toYaml \.Values\.resources/, 'resources set')
})

t.test('Helm chart: grace period longer than the server\'s shutdown, multi-replica guard', async (t) => {
  const values = YAML.parse(await chartFile('values.yaml')) as ChartValues
  const helpers = await chartFile('templates/_helpers.tpl')
  const deployment = await chartFile('templates/deployment.yaml')
  const server = await readFile(join(ROOT, 'src/serve.ts'), 'utf8')
  const hardExitMs = Number(/HARD_EXIT_AFTER_MS = ([\d_]+)/.exec(server)?.[1]?.replace(/_/g, ''))
  t.ok(hardExitMs > 0, `the server exits hard ${hardExitMs} ms after its shutdown deadline`)

  t.match(deployment, /terminationGracePeriodSeconds: \{\{ include "gateway\.terminationGracePeriodSeconds" \. \}\}/)
  const formula = /define "gateway\.terminationGracePeriodSeconds"[^]*?\{\{- add ([^}]*?) -\}\}/.exec(helpers)?.[1] ?? ''
  const terms = formula.split(/\s+(?![^(]*\))/).map((term) => {
    const ref = /\.Values\.shutdown\.(\w+)/.exec(term)?.[1]
    return ref !== undefined ? Number(values.shutdown[ref as keyof ChartValues['shutdown']]) : Number(term)
  })
  t.ok(formula.includes('.Values.shutdown.timeoutSeconds') && formula.includes('.Values.shutdown.preStopSleepSeconds'), `grace = ${formula}`)
  const grace = terms.reduce((a, b) => a + b, 0)
  const needed = values.shutdown.preStopSleepSeconds + values.shutdown.timeoutSeconds + hardExitMs / 1000
  t.ok(grace > needed, `terminationGracePeriodSeconds ${grace} > preStop ${values.shutdown.preStopSleepSeconds} + shutdown ${values.shutdown.timeoutSeconds} + hard exit ${hardExitMs / 1000}`)
  t.match(await chartFile('templates/configmap.yaml'), /SHUTDOWN_TIMEOUT_MS: \{\{ mul \(int \.Values\.shutdown\.timeoutSeconds\) 1000/, 'SHUTDOWN_TIMEOUT_MS comes from the same value')
  t.match(deployment, /preStop:\s*\n\s*exec:\s*\n\s*command: \["sleep", "\{\{ \.Values\.shutdown\.preStopSleepSeconds \}\}"\]/)

  const guard = /\{\{- if and \(gt \(int \.Values\.replicaCount\) 1\) \(eq \(include "gateway\.secretName" \(dict "root" \. "var" "STATE_DATABASE_URL"\)\) ""\) -\}\}\s*\{\{- fail "([^"]+)"/.exec(helpers)
  t.ok(guard, 'more than one replica without STATE_DATABASE_URL fails the render')
  t.match(guard?.[1], /STATE_DATABASE_URL/, 'naming the setting')
  t.match(guard?.[1], /once per replica/, 'and saying why')
  for (const f of ['configmap.yaml', 'deployment.yaml']) t.match(await chartFile(`templates/${f}`), /include "gateway\.validate" \./, `${f} runs the guards`)
  t.equal(values.replicaCount, 1, 'one replica by default (renders without a database)')
})

t.test('Grafana dashboard: a ConfigMap for the sidecar over metrics the gateway exports', async (t) => {
  const values = YAML.parse(await chartFile('values.yaml')) as ChartValues
  t.equal(values.dashboard.labels.grafana_dashboard, '1', 'labelled for the Grafana sidecar')
  const template = await chartFile('templates/dashboard-configmap.yaml')
  const file = /\.Files\.Get "([^"]+)"/.exec(template)?.[1] ?? ''
  t.match(template, /\{\{- toYaml \.Values\.dashboard\.labels/)
  const dashboard = JSON.parse(await chartFile(file)) as { panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> }

  const metrics = new Metrics()
  const exported = new Map<string, readonly string[]>()
  for (const m of metrics.registry.getMetricsAsArray()) {
    const { name, labelNames, type } = m as unknown as { name: string; labelNames?: readonly string[]; type: string }
    exported.set(name, labelNames ?? [])
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.set(name + s, [...(labelNames ?? []), 'le'])
  }
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((tg) => ({ panel: p.title, expr: tg.expr })))
  t.ok(exprs.length >= 10, `${exprs.length} queries`)
  const used = new Set<string>()
  for (const { panel, expr } of exprs) {
    const names = [...expr.matchAll(/\b((?:gateway|process|nodejs)_[a-z0-9_]+)\{/g)].map((m) => m[1]!)
    t.ok(names.length > 0, `${panel}: queries a metric`)
    for (const name of names) {
      used.add(name)
      t.ok(exported.has(name), `${panel}: ${name} is exported`)
      // Labels grouped by must exist on every metric of the query (plus the scrape's job and instance).
      for (const by of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of by[1]!.split(',').map((l) => l.trim())) {
          t.ok(['job', 'instance'].includes(label) || exported.get(name)?.includes(label), `${panel}: ${name} has label ${label}`)
        }
      }
    }
  }
  const wanted = [
    'gateway_http_requests_total',
    'gateway_recording_bytes_streamed_total',
    'gateway_upstream_request_duration_seconds_bucket',
    'gateway_push_runs_total',
    'gateway_pending_legs',
    'gateway_push_cursor_lag_seconds'
  ]
  for (const name of wanted) t.ok(used.has(name), `the dashboard shows ${name}`)
})

// ── compose.yaml ────────────────────────────────────────────────────────────────────────────────

interface ComposeService {
  build?: string
  image?: string
  environment?: Record<string, string>
  entrypoint?: string[]
  depends_on?: Record<string, { condition: string }>
  stop_grace_period?: string
}

t.test('compose.yaml: the demo trial with PostgreSQL state and the simulators', async (t) => {
  const compose = YAML.parse(await readFile(join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, ComposeService> }
  const { gateway, postgres, simulators } = compose.services
  const known = await configVariables()
  t.equal(gateway?.build, '.', 'the gateway is built from the Dockerfile')
  const env = gateway?.environment ?? {}
  for (const name of Object.keys(env)) t.ok(known.has(name), `${name} is read by src/config.ts`)
  t.doesNotThrow(() => loadConfig(env), 'the gateway accepts the configuration')
  const config = loadConfig(env)
  t.ok(config.cx !== null, 'pushing to CX is on')

  t.match(env.STATE_DATABASE_URL, /^postgres:\/\/[^@]+@postgres:5432\//, 'state in the postgres service')
  const pg = postgres?.environment ?? {}
  t.equal(new URL(env.STATE_DATABASE_URL ?? '').username, pg.POSTGRES_USER)
  t.equal(new URL(env.STATE_DATABASE_URL ?? '').password, pg.POSTGRES_PASSWORD)
  t.equal(gateway?.depends_on?.postgres?.condition, 'service_healthy', 'the gateway starts once PostgreSQL answers')

  const main = await readFile(join(ROOT, 'src/demo/simulators-main.ts'), 'utf8')
  const cxPort = /CX_SIM_PORT = (\d+)/.exec(main)?.[1]
  const eleveoPort = /ELEVEO_SIM_PORT = (\d+)/.exec(main)?.[1]
  t.equal(new URL(env.CX_BASE_URL ?? '').host, `simulators:${cxPort}`, 'CX is the CX simulator')
  t.equal(new URL(env.CX_TOKEN_URL ?? '').host, `simulators:${cxPort}`, 'and so is Keycloak')
  t.equal(new URL(env.ELEVEO_BASE_URL ?? '').host, `simulators:${eleveoPort}`, 'Eleveo is the Eleveo simulator')
  const demo = await readFile(join(ROOT, 'src/demo/data.ts'), 'utf8')
  t.equal(env.ELEVEO_PASSWORD, /DEMO_ELEVEO_PASSWORD = '([^']+)'/.exec(demo)?.[1], 'with the simulator\'s account')
  t.same(simulators?.entrypoint, ['node', 'dist/src/demo/simulators-main.js'], 'the simulators run the built src/demo/simulators-main.ts')

  const grace = Number(/^(\d+)s$/.exec(gateway?.stop_grace_period ?? '')?.[1])
  t.ok(grace * 1000 > config.shutdownTimeoutMs + 10_000, `stop_grace_period ${grace}s outlasts the server's shutdown`)
})

t.test('compose.yaml without Docker: its gateway settings against the simulators entry point and a PostgreSQL push the demo\'s links', async (t) => {
  const compose = YAML.parse(await readFile(join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, ComposeService> }
  const gatewayEnv = compose.services.gateway?.environment ?? {}

  const sims = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/demo/simulators-main.ts'), '--host', '127.0.0.1', '--cx-port', '0', '--eleveo-port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = once(sims, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => {
    if (sims.exitCode === null) sims.kill('SIGKILL')
  })
  let output = ''
  sims.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
    for (let i = 0; i < 300; i++) {
      const m = re.exec(output)
      if (m) return m
      if (sims.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`simulators never printed ${re}: ${output}`)
  }
  const ports = await waitFor(/CX simulator on :(\d+) .*Eleveo simulator on :(\d+): (\d+) CX legs/)

  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const composeDb = new URL(gatewayEnv.STATE_DATABASE_URL ?? '')
  const stateDb = new URL(await pg.createDatabase(composeDb.pathname.slice(1)))
  // compose's service names and ports, as this machine reaches them.
  const local = (value: string): string => value.replace('simulators:8081', `127.0.0.1:${ports[1]}`).replace('simulators:8082', `127.0.0.1:${ports[2]}`)
  const env = { ...Object.fromEntries(Object.entries(gatewayEnv).map(([k, v]) => [k, local(v)])), STATE_DATABASE_URL: stateDb.toString(), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' }
  const app = await buildApp({ config: loadConfig(env), logger: false })
  t.teardown(() => app.close())
  const report = await app.pushRunner?.start('manual').done
  const legs = Number(ports[3])
  t.match(report, { status: 'ok', pushed: legs }, `a push run over the demo's ${legs} legs`)

  const links = [...(await waitFor(new RegExp(`(?:CX received a link[^\\n]*\\n){${legs}}`)))[0].matchAll(/: (http\S+)/g)].map((m) => m[1]!)
  t.equal(links.length, legs, 'the simulators print every link CX received')
  for (const link of links) t.match(link, new RegExp(`^${gatewayEnv.PUBLIC_BASE_URL}/recordings/[^?]+\\?sig=`), 'signed, on PUBLIC_BASE_URL')
  const res = await app.inject({ method: 'GET', url: new URL(links[0]!).pathname + new URL(links[0]!).search })
  t.equal(res.statusCode, 200, 'and the gateway serves it')
  t.equal(res.headers['content-type'], 'audio/wav')

  sims.kill('SIGTERM')
  t.same(await exited, [0, null], 'the simulators stop on SIGTERM with exit code 0')
})
