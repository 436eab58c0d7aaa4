import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { SimVoiceActivity } from '../../simulators/cx.js'
import type { SimEleveoLeg } from '../../simulators/eleveo.js'
import { DEMO_CALLS } from './calls.js'
import { planDemoCalls } from './plan.js'
import { toneWav } from './tone-wav.js'

/*
 * The demo's calls as the Eleveo REST simulator serves them: a WAV per recorded part (written into
 * `dir`), what Eleveo lists and what CX lists, timed relative to `now` so that they fall into the push
 * job's first window. Shared by `npm run demo` and the compose trial's simulators
 * (src/demo/simulators-main.ts).
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
  const plan = planDemoCalls(DEMO_CALLS, now)
  const eleveoLegs: SimEleveoLeg[] = []
  for (const { id, call, agentExtension, part, start, end } of plan.parts) {
    const wavPath = join(dir, `${id}.wav`)
    await writeFile(wavPath, toneWav(part))
    eleveoLegs.push({ id, dialogId: call.dialogId, agentExtension, ani: call.ani, start: iso(start), end: iso(end), endReason: part.endReason, wavPath })
  }
  return { eleveoLegs, activities: plan.activities, titles: plan.titles }
}
