import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseWavLayout } from '../src/audio/wav/riff.js'
import { planVirtualWav } from '../src/audio/wav/virtual-wav.js'
import { dayDirectory, insertCdrRow, recordingFileName, startSwitch } from '../test/helpers/efswitch-fixtures.js'
import { makeTone } from '../test/helpers/sox.js'
import type { BarePlan } from './bare-proxy.js'
import { startChild, startGateway, type Measured } from './common.js'
import { SEGMENT_SECONDS } from './rig.js'

/*
 * The EFSwitch row: a real PostgreSQL with FusionPBX's v_xml_cdr (test/helpers/efswitch-fixtures.ts),
 * one 60-minute recording in a day directory under EFSWITCH_RECORDINGS_ROOT (EFSwitch keeps a leg in
 * one file), a gateway with RECORDING_VENDOR=efswitch, and a bare proxy serving the same header and
 * file bytes straight from disk.
 */

export interface EfswitchRow {
  gateway: Measured
  gatewayUrl: string
  bare: Measured
  bareUrl: string
  close(): Promise<void>
}

const START = Date.parse('2026-12-05T10:00:00Z')
const SPEC = { dialogId: 'bench-efswitch-1', agentExtension: '1001', ani: '5550100', start: START }

export async function startEfswitchRow(dir: string): Promise<EfswitchRow> {
  const teardowns: (() => unknown)[] = []
  const close = async (): Promise<void> => {
    for (const fn of teardowns.reverse()) await fn()
  }
  try {
    const sw = await startSwitch({ teardown: (fn) => teardowns.push(fn) })
    const day = dayDirectory(sw.root, '2026-12-05')
    await mkdir(day, { recursive: true })
    const path = await makeTone(join(day, recordingFileName(SPEC)), { seconds: 3 * SEGMENT_SECONDS, freq: 440 })
    await insertCdrRow(sw.cdr, { callId: SPEC.dialogId, recordPath: day, start: new Date(START) })
    const bytes = await readFile(path)
    const v = planVirtualWav([parseWavLayout(bytes.subarray(0, 4096), bytes.length)])
    const plan: BarePlan = {
      contentType: 'audio/wav',
      prefix: v.prefix.toString('base64'),
      suffix: v.suffix.toString('base64'),
      size: v.size,
      segments: v.parts.map((p) => ({ path, file: true, start: p.fileOffset, end: p.fileOffset + p.length - 1 }))
    }
    const planFile = join(dir, 'bare-efswitch.json')
    await writeFile(planFile, JSON.stringify({ '/efswitch': plan }))
    const bare = await startChild('bare', [planFile, 'http://127.0.0.1:1', ''])
    teardowns.push(() => bare.stop())
    const gateway = await startGateway(
      {
        RECORDING_VENDOR: 'efswitch',
        EFSWITCH_DATABASE_URL: sw.databaseUrl,
        EFSWITCH_RECORDINGS_ROOT: sw.root,
        STATE_DIR: join(dir, 'state-efswitch'),
        RATE_LIMIT_MAX: '1000000',
        MAX_EVENT_LOOP_DELAY_MS: '0'
      },
      { cpuHook: true }
    )
    teardowns.push(() => gateway.stop())
    const legId = `${SPEC.dialogId}:${SPEC.agentExtension}:${SPEC.ani}:${SPEC.start}`
    return { gateway, gatewayUrl: `${gateway.url}/recordings/${legId}`, bare, bareUrl: `${bare.url}/efswitch`, close }
  } catch (err) {
    await close()
    throw err
  }
}
