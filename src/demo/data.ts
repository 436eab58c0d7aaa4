import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { SimVoiceActivity } from '../../simulators/cx.js'
import type { SimEleveoLeg } from '../../simulators/eleveo.js'
import { formatLegId } from '../legs/leg-id.js'
import { DEMO_CALLS } from './calls.js'
import { toneWav } from './tone-wav.js'

/*
 * The demo's calls as the simulators serve them: a WAV per recorded part (written into `dir`), what
 * Eleveo lists and what CX lists, timed relative to `now` so that they fall into the push job's first
 * window. Shared by `npm run demo` and the compose trial's simulators (src/demo/simulators-main.ts).
 */

/** The Eleveo simulator's basic-auth account in the demo and the compose trial. */
export const DEMO_ELEVEO_USER = 'eleveo'
export const DEMO_ELEVEO_PASSWORD = 'eleveo-demo-secret'

export interface DemoData {
  eleveoLegs: SimEleveoLeg[]
  activities: SimVoiceActivity[]
  /** legId → what the leg is, for the printout. */
  titles: Map<string, string>
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

export async function writeDemoCalls(dir: string, now: number): Promise<DemoData> {
  const eleveoLegs: SimEleveoLeg[] = []
  const activities: SimVoiceActivity[] = []
  const titles = new Map<string, string>()
  for (const call of DEMO_CALLS) {
    const callStart = Math.floor((now - call.minutesAgo * 60_000) / 1000) * 1000
    for (const [legIndex, leg] of call.legs.entries()) {
      let legStart = Number.POSITIVE_INFINITY
      let legEnd = 0
      for (const [partIndex, part] of leg.parts.entries()) {
        const id = `${call.dialogId}-${legIndex}-${partIndex}`
        const wavPath = join(dir, `${id}.wav`)
        await writeFile(wavPath, toneWav(part))
        const start = callStart + part.at * 1000
        const end = start + part.seconds * 1000
        legStart = Math.min(legStart, start)
        legEnd = Math.max(legEnd, end)
        eleveoLegs.push({ id, dialogId: call.dialogId, agentExtension: leg.agentExtension, ani: call.ani, start: iso(start), end: iso(end), endReason: part.endReason, wavPath })
      }
      activities.push({
        conversationId: `conv-${call.dialogId}`,
        channelSessionId: `cs-${call.dialogId}-${legIndex}`,
        dialogId: call.dialogId,
        agentExtension: leg.agentExtension,
        ani: call.ani,
        legStartTime: iso(legStart),
        legEndTime: iso(legEnd)
      })
      const legId = formatLegId({ dialogId: call.dialogId, agentExtension: leg.agentExtension, ani: call.ani, startTime: legStart })
      titles.set(legId, `${call.title}, agent ${leg.agentExtension}`)
    }
  }
  return { eleveoLegs, activities, titles }
}
