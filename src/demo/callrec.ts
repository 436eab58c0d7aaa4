import postgres from 'postgres'
import type { SimVoiceActivity } from '../../simulators/cx.js'
import { createCallrecTables, insertCouples, wallClockIn, type SimCouple } from '../../simulators/callrec-db.js'
import { startCallrecSimulator } from '../../simulators/callrec.js'
import { toneMp3 } from '../../simulators/mp3-tone.js'
import { startPostgres } from '../../simulators/postgres.js'
import { planDemoCalls, type PlannableCall, type PlannablePart } from './plan.js'

/*
 * The CallREC side of `npm run demo -- --callrec`: a throw-away PostgreSQL with CallREC's tables and
 * couples stamped in Prague time, and the servlets simulated, handing out MP3s made in JavaScript
 * (8 kHz mono, as call recorders write them). Two calls a newcomer should see handled:
 * - a call put on hold twice: three couples of one agent a few seconds apart, joined into one leg;
 * - agent 1002 → 1003 → back to 1002: three recordings, 1002's two stays never joined.
 */

const ZONE = 'Europe/Prague'
const USER = 'gateway'
const PASSWORD = 'callrec-demo-secret'

interface DemoCouple extends PlannablePart {
  readonly freq: number
}

export const CALLREC_MERGED_CALL_ID = 'demo-callrec-holds'

const CALLS: readonly PlannableCall<DemoCouple>[] = [
  {
    dialogId: CALLREC_MERGED_CALL_ID,
    title: 'put on hold twice (three couples joined)',
    ani: '+420601234567',
    minutesAgo: 30,
    legs: [
      {
        agentExtension: '1001',
        parts: [
          { at: 0, seconds: 2, freq: 440 },
          { at: 12, seconds: 1.5, freq: 554 },
          { at: 25, seconds: 2.5, freq: 659 }
        ]
      }
    ]
  },
  {
    dialogId: 'demo-callrec-back-and-forth',
    title: '1002 → 1003 → back to 1002 (three recordings)',
    ani: '+420609876543',
    minutesAgo: 25,
    legs: [
      { agentExtension: '1002', parts: [{ at: 0, seconds: 2, freq: 392 }] },
      { agentExtension: '1003', parts: [{ at: 5, seconds: 1.5, freq: 494 }] },
      { agentExtension: '1002', parts: [{ at: 10, seconds: 1.5, freq: 523 }] }
    ]
  }
]

/** The couples of the merged call, in playback order. */
export function callrecMergedCouples(): readonly DemoCouple[] {
  return CALLS[0]!.legs[0]!.parts
}

export interface CallrecDemo {
  /** The gateway's ELEVEO_* settings for this CallREC. */
  readonly env: Record<string, string>
  readonly activities: SimVoiceActivity[]
  /** legId → what the leg is, in call order. */
  readonly titles: Map<string, string>
  readonly servletsUrl: string
  readonly databaseUrl: string
  close(): Promise<void>
}

export async function startCallrecDemo(now: number): Promise<CallrecDemo> {
  const pg = await startPostgres()
  try {
    const databaseUrl = await pg.createDatabase('callrec')
    const plan = planDemoCalls(CALLS, now)
    const audio: Record<string, Buffer> = {}
    const couples: SimCouple[] = plan.parts.map(({ id, call, agentExtension, part, start, end }) => {
      audio[id] = toneMp3({ seconds: part.seconds, freq: part.freq })
      return { sid: id, dialogId: call.dialogId, agentExtension, ani: call.ani, start: wallClockIn(start, ZONE), stop: wallClockIn(end, ZONE) }
    })
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    try {
      await createCallrecTables(sql)
      await insertCouples(sql, couples)
    } finally {
      await sql.end({ timeout: 5 })
    }
    const servlets = await startCallrecSimulator({ username: USER, password: PASSWORD, audio })
    return {
      env: {
        ELEVEO_API: 'callrec',
        ELEVEO_BASE_URL: servlets.url,
        ELEVEO_USERNAME: USER,
        ELEVEO_PASSWORD: PASSWORD,
        ELEVEO_DATABASE_URL: databaseUrl,
        ELEVEO_TIMEZONE: ZONE
      },
      activities: plan.activities,
      titles: plan.titles,
      servletsUrl: servlets.url,
      databaseUrl,
      async close() {
        await servlets.close()
        await pg.close()
      }
    }
  } catch (err) {
    await pg.close()
    throw err
  }
}
