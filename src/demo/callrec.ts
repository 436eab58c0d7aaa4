import postgres from 'postgres'
import type { SimVoiceActivity } from '../../simulators/cx.js'
import { createCallrecTables, insertCouples, wallClockIn, type SimCouple } from '../../simulators/callrec-db.js'
import { startCallrecSimulator } from '../../simulators/callrec.js'
import { toneMp3 } from '../../simulators/mp3-tone.js'
import { startPostgres } from '../../simulators/postgres.js'
import { formatLegId } from '../legs/leg-id.js'

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

interface DemoCouple {
  /** Seconds from the call's start. */
  readonly at: number
  readonly seconds: number
  readonly freq: number
}

interface DemoCallrecCall {
  readonly dialogId: string
  readonly title: string
  readonly ani: string
  readonly minutesAgo: number
  /** Per leg: its agent and the couples CallREC recorded of it. */
  readonly legs: readonly { readonly agentExtension: string; readonly couples: readonly DemoCouple[] }[]
}

export const CALLREC_MERGED_CALL_ID = 'demo-callrec-holds'

const CALLS: readonly DemoCallrecCall[] = [
  {
    dialogId: CALLREC_MERGED_CALL_ID,
    title: 'put on hold twice (three couples joined)',
    ani: '+420601234567',
    minutesAgo: 30,
    legs: [
      {
        agentExtension: '1001',
        couples: [
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
      { agentExtension: '1002', couples: [{ at: 0, seconds: 2, freq: 392 }] },
      { agentExtension: '1003', couples: [{ at: 5, seconds: 1.5, freq: 494 }] },
      { agentExtension: '1002', couples: [{ at: 10, seconds: 1.5, freq: 523 }] }
    ]
  }
]

/** The couples of the merged call, in playback order. */
export function callrecMergedCouples(): readonly DemoCouple[] {
  return CALLS[0]!.legs[0]!.couples
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
    const audio: Record<string, Buffer> = {}
    const couples: SimCouple[] = []
    const activities: SimVoiceActivity[] = []
    const titles = new Map<string, string>()
    for (const call of CALLS) {
      const callStart = Math.floor((now - call.minutesAgo * 60_000) / 1000) * 1000
      for (const [legIndex, leg] of call.legs.entries()) {
        for (const [i, c] of leg.couples.entries()) {
          const sid = `${call.dialogId}-${legIndex}-${i}`
          const start = callStart + c.at * 1000
          audio[sid] = toneMp3({ seconds: c.seconds, freq: c.freq })
          couples.push({ sid, dialogId: call.dialogId, agentExtension: leg.agentExtension, ani: call.ani, start: wallClockIn(start, ZONE), stop: wallClockIn(start + c.seconds * 1000, ZONE) })
        }
        const first = leg.couples[0]!
        const last = leg.couples[leg.couples.length - 1]!
        const legStart = callStart + first.at * 1000
        activities.push({
          conversationId: `conv-${call.dialogId}`,
          channelSessionId: `cs-${call.dialogId}-${legIndex}`,
          dialogId: call.dialogId,
          agentExtension: leg.agentExtension,
          ani: call.ani,
          legStartTime: new Date(legStart).toISOString(),
          legEndTime: new Date(callStart + (last.at + last.seconds) * 1000).toISOString()
        })
        titles.set(formatLegId({ dialogId: call.dialogId, agentExtension: leg.agentExtension, ani: call.ani, startTime: legStart }), `${call.title}, agent ${leg.agentExtension}`)
      }
    }
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
      activities,
      titles,
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
