/*
 * A small program written the way an integrator would, against a client generated from the gateway's
 * served /openapi.json (openapi-typescript types + openapi-fetch). Not part of the project's own
 * type-check: test/openapi-client.test.ts copies it next to the freshly generated `api.d.ts` in a
 * temporary directory, compiles it there with tsc (a path or field the document no longer has is a
 * compile error) and runs it against a live gateway; it prints one JSON report of what it saw, which the
 * test compares with the document's routes and with what the gateway really holds.
 *
 * Input (environment): GATEWAY_URL, ADMIN_TOKEN, METRICS_TOKEN, LEG_ID, LEG_SIG.
 */
import createClient from 'openapi-fetch'
import type { components, paths } from './api.js'

type CheckResult = components['schemas']['CheckResult']
type PushRunReport = components['schemas']['PushRunReport']

export interface Call {
  /** `METHOD /path/template` as the document writes it. */
  operation: string
  status: number
  /** What the program read from the typed answer. */
  seen: Record<string, unknown>
}

function env(name: string): string {
  const v = process.env[name]
  if (v === undefined || v === '') throw new Error(`${name} is not set`)
  return v
}

const client = createClient<paths>({ baseUrl: env('GATEWAY_URL') })
const admin = { Authorization: `Bearer ${env('ADMIN_TOKEN')}` }
const legId = env('LEG_ID')
const sig = env('LEG_SIG')
const calls: Call[] = []

{
  const { data, response } = await client.GET('/health/live')
  const status: 'ok' | undefined = data?.status
  calls.push({ operation: 'GET /health/live', status: response.status, seen: { status } })
}
{
  const { data, response } = await client.GET('/health/ready')
  const checks: Record<string, CheckResult> = data?.checks ?? {}
  calls.push({
    operation: 'GET /health/ready',
    status: response.status,
    seen: { status: data?.status, checks: Object.fromEntries(Object.entries(checks).map(([name, c]) => [name, c.status])) }
  })
}
{
  const { data, response } = await client.GET('/metrics', { headers: { Authorization: `Bearer ${env('METRICS_TOKEN')}` }, parseAs: 'text' })
  const names = (data ?? '').split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2])
  calls.push({ operation: 'GET /metrics', status: response.status, seen: { metrics: names } })
}
{
  const { data, response } = await client.GET('/openapi.json')
  calls.push({ operation: 'GET /openapi.json', status: response.status, seen: { keys: Object.keys(data ?? {}).sort() } })
}
{
  const { data, response } = await client.GET('/openapi.yaml', { parseAs: 'text' })
  calls.push({ operation: 'GET /openapi.yaml', status: response.status, seen: { firstLine: (data ?? '').split('\n')[0] } })
}
{
  const { data, response } = await client.POST('/admin/push-runs', { headers: admin })
  const trigger: 'manual' | 'backfill' | undefined = data?.trigger
  calls.push({ operation: 'POST /admin/push-runs', status: response.status, seen: { id: data?.id, trigger, status: data?.status, location: response.headers.get('location') } })
}
{
  // The run answers at once; its report says when it is over.
  let report: PushRunReport | undefined
  let status = 0
  for (let i = 0; i < 200; i++) {
    const { data, response } = await client.GET('/admin/push-runs/latest', { headers: admin })
    status = response.status
    report = data
    if (report === undefined || report.status !== 'running') break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  calls.push({
    operation: 'GET /admin/push-runs/latest',
    status,
    seen: { id: report?.id, status: report?.status, trigger: report?.trigger, pushed: report?.pushed, windows: report?.windows.length, windowsDone: report?.windowsDone }
  })
}
{
  const { data, response } = await client.GET('/recordings/{legId}', {
    params: { path: { legId }, query: { sig }, header: { Range: 'bytes=0-99' } },
    parseAs: 'arrayBuffer'
  })
  calls.push({
    operation: 'GET /recordings/{legId}',
    status: response.status,
    seen: { bytes: data?.byteLength, contentRange: response.headers.get('content-range'), riff: Buffer.from(data ?? new ArrayBuffer(0)).subarray(0, 4).toString('latin1') }
  })
}
{
  const { response } = await client.HEAD('/recordings/{legId}', { params: { path: { legId }, query: { sig } } })
  calls.push({
    operation: 'HEAD /recordings/{legId}',
    status: response.status,
    seen: { contentLength: response.headers.get('content-length'), etag: response.headers.get('etag') }
  })
}

process.stdout.write(JSON.stringify({ calls }) + '\n')
