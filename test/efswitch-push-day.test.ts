/*
 * A push run over the calls of one busy day against an EFSwitch as deployed: CX (simulator) lists
 * CALLS voice activities whose dialogIds are SIP Call-IDs, every call has an a-leg and a b-leg CDR row
 * naming the same day directory, and the directory holds every call's recording. The run links every
 * leg and lists the directory once (the listing metric), not once per call.
 */
import t from 'tap'
import { closeSync, openSync } from 'node:fs'
import { mkdir, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import { loadConfig, whenPushing } from '../src/config.js'
import { createCxClient } from '../src/cx/client.js'
import { PushRunner } from '../src/jobs/push-runner.js'
import { Metrics } from '../src/metrics.js'
import { createProvider } from '../src/providers/index.js'
import { FileStateStore } from '../src/state/file-store.js'
import { tempDir } from './helpers/sox.js'
import { dayDirectory, recordingFileName, startSwitch } from './helpers/efswitch-fixtures.js'
import { startCxSimulator, type SimVoiceActivity } from '../simulators/cx.js'

const CALLS = 1_000
const API_TOKEN = 'cx-static-token'
const T0 = Date.parse('2026-12-05T08:00:00.000Z')

const { databaseUrl, cdr, root } = await startSwitch(t)
const day = dayDirectory(root, '2026-12-05')
await mkdir(day, { recursive: true })

const activities: SimVoiceActivity[] = []
const callIds: string[] = []
for (let i = 0; i < CALLS; i++) {
  const callId = `${(i * 40503).toString(16)}a${i}@pc${i % 7}.example.com`
  const start = T0 + i * 2_000
  const agentExtension = String(1001 + (i % 20))
  const ani = `+4144${String(i).padStart(7, '0')}`
  callIds.push(callId)
  // What the switch stamps differs from what CX reports by a little: the closest file is the call's own.
  closeSync(openSync(join(day, recordingFileName({ dialogId: callId, agentExtension, ani, start: start + 300 })), 'w'))
  activities.push({
    conversationId: `conv-${i}`,
    channelSessionId: `chs-${i}`,
    dialogId: callId,
    agentExtension,
    ani,
    legStartTime: new Date(start).toISOString(),
    legEndTime: new Date(start + 60_000).toISOString()
  })
}
await cdr`
  insert into v_xml_cdr (xml_cdr_uuid, leg, start_stamp, record_path, json)
  select gen_random_uuid(), leg, now(), ${day}, jsonb_build_object('variables', jsonb_build_object('sip_h_X-CALL-ID', id))
  from unnest(${callIds}::text[]) as id, unnest(array['a', 'b']) as leg`
// The day is over: nothing has been written into its directory for an hour.
const hourAgo = new Date(Date.now() - 3_600_000)
await utimes(day, hourAgo, hourAgo)

const cx = await startCxSimulator({ apiToken: API_TOKEN, activities })
t.teardown(() => cx.close())
const config = loadConfig({
  RECORDING_VENDOR: 'efswitch',
  EFSWITCH_DATABASE_URL: databaseUrl,
  EFSWITCH_RECORDINGS_ROOT: root,
  CX_BASE_URL: cx.url,
  CX_API_TOKEN: API_TOKEN,
  PUBLIC_BASE_URL: 'https://gateway.example.com',
  PROCESSING_DELAY_S: '0',
  PUSH_DEFAULT_WINDOW_S: '3600',
  PUSH_MAX_WINDOW_S: '3600',
  LOG_LEVEL: 'silent'
})
const log = Fastify({ logger: false }).log
const metrics = new Metrics({ defaultMetrics: false })
const provider = await createProvider(config, log, metrics)
t.teardown(() => provider.close())
const store = await FileStateStore.open(await tempDir(t, 'cxgw-efswitch-day-state-'))
t.teardown(() => store.close())
const pushing = whenPushing(config)
if (pushing === null) throw new Error('push must be enabled by CX_BASE_URL')
const cxClient = createCxClient(pushing.cx)
const runner = new PushRunner({ config: pushing, provider, cx: cxClient, store, log, instanceId: 'test', now: () => T0 + 3_600_000 })
t.teardown(() => runner.stop(0))

async function counter(name: string): Promise<number> {
  const text = await metrics.registry.metrics()
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
}

t.test(`a push run over ${CALLS} calls of one day directory lists it once`, async (t) => {
  const report = await runner.start('manual').done
  t.match(report, { status: 'ok', pushed: CALLS, pending: 0 })
  t.equal(new Set(cx.received.map((m) => m.legId)).size, CALLS, 'every leg linked once')
  const wrong = cx.received.filter((m) => !callIds.includes(m.legId.split(':')[0]!))
  t.same(wrong, [], 'each link names its own call')
  t.equal(await counter('gateway_efswitch_directory_listings_total'), 1, 'one listing for the whole run')
  t.equal(await counter('gateway_efswitch_directory_names_listed_total'), CALLS)
})
