/*
 * The push job against an EFSwitch: CX (simulator) lists voice activities, the real PostgreSQL gives
 * each call's recording directory, files in a temporary root are the legs. Legs with a file get a link
 * that then serves that file; legs without one wait; a database outage fails the run and keeps the cursor.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import Fastify from 'fastify'
import { buildApp } from '../src/app.js'
import { whenPushing, type Config } from '../src/config.js'
import { testConfig } from './helpers/gateway-config.js'
import { createCxClient } from '../src/cx/client.js'
import { PushRunner } from '../src/jobs/push-runner.js'
import { createProvider } from '../src/providers/index.js'
import { FileStateStore } from '../src/state/file-store.js'
import { tempDir } from './helpers/sox.js'
import { startPostgres } from './helpers/postgres.js'
import { createCdrTable, insertCall, recordingsRoot, writeRecording } from './helpers/efswitch-fixtures.js'
import { startCxSimulator, type SimVoiceActivity } from '../simulators/cx.js'

const API_TOKEN = 'cx-static-token'
const PUBLIC = 'https://gateway.example.com'
const T0 = Date.parse('2026-03-02T10:00:00.000Z')
const ani = '+41441234567'

const pg = await startPostgres()
t.teardown(() => pg.close())
const databaseUrl = await pg.createDatabase('switch')
const cdr = await createCdrTable(databaseUrl)
t.teardown(() => cdr.end({ timeout: 5 }))
const root = await recordingsRoot(t)
const cx = await startCxSimulator({ apiToken: API_TOKEN })
t.teardown(() => cx.close())

// Fastify's logger when logging is off: the real type, writing nothing.
const log = Fastify({ logger: false }).log

function env(extra: Record<string, string> = {}): Config {
  return testConfig({
    RECORDING_VENDOR: 'efswitch',
    EFSWITCH_DATABASE_URL: databaseUrl,
    EFSWITCH_RECORDINGS_ROOT: root,
    LOG_LEVEL: 'silent',
    ...extra
  })
}
const config = env({
  CX_BASE_URL: cx.url,
  CX_API_TOKEN: API_TOKEN,
  PUBLIC_BASE_URL: PUBLIC,
  // Files are on disk as soon as the leg is bridged: no processing delay to wait out.
  PROCESSING_DELAY_S: '0',
  PUSH_DEFAULT_WINDOW_S: '3600',
  PUSH_MAX_WINDOW_S: '3600'
})

function activity(dialogId: string, agentExtension: string, start: number): SimVoiceActivity {
  return {
    conversationId: `conv-${dialogId}`,
    channelSessionId: `chs-${dialogId}`,
    dialogId,
    agentExtension,
    ani,
    legStartTime: new Date(start).toISOString(),
    legEndTime: new Date(start + 30_000).toISOString()
  }
}
const legId = (dialogId: string, agent: string, start: number): string => `${dialogId}:${agent}:${ani}:${start}`

// Call A: transferred 1001 → 1002 → back to 1001; the switch's start stamps differ from CX's a little.
const callA = randomUUID()
const dirA = join(root, 'example.com', 'archive', callA)
const filesA = [
  await writeRecording(dirA, { dialogId: callA, agentExtension: '1001', ani, start: T0 + 60_000 + 400, freq: 300 }),
  await writeRecording(dirA, { dialogId: callA, agentExtension: '1002', ani, start: T0 + 100_000 + 250, freq: 500 }),
  await writeRecording(dirA, { dialogId: callA, agentExtension: '1001', ani, start: T0 + 160_000 + 900, freq: 700 })
]
await insertCall(cdr, callA, dirA)
// Call B: 1001's file is there, 1002's is not written yet.
const callB = randomUUID()
const dirB = join(root, 'example.com', 'archive', callB)
const fileB1 = await writeRecording(dirB, { dialogId: callB, agentExtension: '1001', ani, start: T0 + 200_000 + 10, freq: 900 })
await insertCall(cdr, callB, dirB)
// Call C: the switch has no row for it at all.
const callC = randomUUID()

cx.activities.push(
  activity(callA, '1001', T0 + 60_000),
  activity(callA, '1002', T0 + 100_000),
  activity(callA, '1001', T0 + 160_000),
  activity(callB, '1001', T0 + 200_000),
  activity(callB, '1002', T0 + 260_000),
  activity(callC, '1001', T0 + 300_000)
)

const stateDir = await tempDir(t, 'cxgw-efswitch-state-')
const store = await FileStateStore.open(stateDir)
t.teardown(() => store.close())
const provider = await createProvider(config, log)
t.teardown(() => provider.close())
const pushing = whenPushing(config)
if (pushing === null) throw new Error('push must be enabled by CX_BASE_URL')
const cxClient = createCxClient(pushing.cx)
let clock = T0 + 3_600_000
const runner = new PushRunner({ config: pushing, provider, cx: cxClient, store, log, instanceId: 'test', now: () => clock })
t.teardown(() => runner.stop(0))

// Links are followed through a gateway that only serves (no CX configured, so no push of its own).
// Its leg cache is off: nothing tells a separate gateway that the push job found a new file, so a listing
// of call B cached while following B's first link would hide B's late leg for LEG_CACHE_TTL_MS.
const server = await buildApp({ config: env({ LEG_CACHE_TTL_MS: '0' }), logger: false })
t.teardown(() => server.close())

async function follow(mediaUrl: string): Promise<Buffer> {
  t.ok(mediaUrl.startsWith(`${PUBLIC}/recordings/`), mediaUrl)
  const res = await server.inject({ method: 'GET', url: mediaUrl.slice(PUBLIC.length) })
  t.equal(res.statusCode, 200, `${mediaUrl} serves`)
  return res.rawPayload
}

t.test('legs with a file get links to exactly that file; the others go pending', async (t) => {
  const report = await runner.start('manual').done
  t.match(report, { status: 'ok', legs: 6, matched: 4, pushed: 4, pending: 2, failed: 0 })
  const byLeg = new Map(cx.received.map((m) => [m.legId, m.mediaUrl]))
  t.same(
    [...byLeg.keys()].sort(),
    [
      legId(callA, '1001', T0 + 60_000),
      legId(callA, '1002', T0 + 100_000),
      legId(callA, '1001', T0 + 160_000),
      legId(callB, '1001', T0 + 200_000)
    ].sort()
  )
  t.ok((await follow(byLeg.get(legId(callA, '1001', T0 + 60_000))!)).equals(filesA[0]!.bytes), 'first 1001 leg: its own file')
  t.ok((await follow(byLeg.get(legId(callA, '1002', T0 + 100_000))!)).equals(filesA[1]!.bytes))
  t.ok((await follow(byLeg.get(legId(callA, '1001', T0 + 160_000))!)).equals(filesA[2]!.bytes), 'second 1001 leg: the later file')
  t.ok((await follow(byLeg.get(legId(callB, '1001', T0 + 200_000))!)).equals(fileB1.bytes))

  const state = await store.load()
  t.equal(state.cursor, clock, 'the window is done: cursor at its end')
  t.same(
    state.pending.map((p) => [p.dialogId, p.waiting]).sort(),
    [
      [callB, [legId(callB, '1002', T0 + 260_000)]],
      [callC, [legId(callC, '1001', T0 + 300_000)]]
    ].sort()
  )
})

t.test('a file written later is linked on the next run', async (t) => {
  const late = await writeRecording(dirB, { dialogId: callB, agentExtension: '1002', ani, start: T0 + 260_000 + 30, freq: 1100 })
  clock += 60_000
  const before = cx.received.length
  const report = await runner.start('schedule').done
  t.match(report, { status: 'ok', pushed: 1, pending: 1 })
  const fresh = cx.received.slice(before)
  t.same(fresh.map((m) => m.legId), [legId(callB, '1002', T0 + 260_000)])
  t.ok((await follow(fresh[0]!.mediaUrl)).equals(late.bytes))
  t.same((await store.load()).pending.map((p) => p.dialogId), [callC])
})

t.test('database down: the run fails and the cursor stays; back up: the next run catches up', async (t) => {
  const callD = randomUUID()
  const dirD = join(root, 'example.com', 'archive', callD)
  const fileD = await writeRecording(dirD, { dialogId: callD, agentExtension: '1005', ani, start: T0 + 3_700_000, freq: 600 })
  await insertCall(cdr, callD, dirD)
  cx.activities.push(activity(callD, '1005', T0 + 3_700_000))
  const cursorBefore = (await store.load()).cursor
  clock = T0 + 3_900_000
  const before = cx.received.length

  await pg.stop()
  try {
    const failed = await runner.start('schedule').done
    t.match(failed, { status: 'failed', error: /efswitch/i })
    t.equal((await store.load()).cursor, cursorBefore, 'cursor not advanced')
    t.equal(cx.received.length, before, 'nothing pushed')
  } finally {
    await pg.start()
  }

  const report = await runner.start('schedule').done
  t.match(report, { status: 'ok', pushed: 1 })
  const fresh = cx.received.slice(before)
  t.same(fresh.map((m) => m.legId), [legId(callD, '1005', T0 + 3_700_000)])
  t.ok((await follow(fresh[0]!.mediaUrl)).equals(fileD.bytes))
  t.equal((await store.load()).cursor, clock, 'cursor advanced once the database answered')
})
