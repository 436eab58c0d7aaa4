import type { SimVoiceActivity } from '../../simulators/cx.js'
import { formatLegId } from '../legs/leg-id.js'

/*
 * The demo's calls laid out in time, for either recorder: every recorded part with its id and instants,
 * and per leg the voice activity CX reports and a title for the printout.
 */

export interface PlannablePart {
  /** Offset of the part's start from the call's start, in seconds. */
  readonly at: number
  readonly seconds: number
}

export interface PlannableCall<P extends PlannablePart> {
  readonly dialogId: string
  readonly title: string
  readonly ani: string
  /** Minutes before the demo starts (inside the push job's first window). */
  readonly minutesAgo: number
  readonly legs: readonly { readonly agentExtension: string; readonly parts: readonly P[] }[]
}

export interface PlannedPart<P extends PlannablePart> {
  /** `<dialogId>-<leg>-<part>`: the recording's id at the recorder. */
  readonly id: string
  readonly call: PlannableCall<P>
  readonly agentExtension: string
  readonly part: P
  /** Epoch milliseconds. */
  readonly start: number
  readonly end: number
}

export interface DemoPlan<P extends PlannablePart> {
  readonly parts: PlannedPart<P>[]
  readonly activities: SimVoiceActivity[]
  /** legId → what the leg is, in call order. */
  readonly titles: Map<string, string>
}

export function planDemoCalls<P extends PlannablePart>(calls: readonly PlannableCall<P>[], now: number): DemoPlan<P> {
  const plan: DemoPlan<P> = { parts: [], activities: [], titles: new Map() }
  for (const call of calls) {
    const callStart = Math.floor((now - call.minutesAgo * 60_000) / 1000) * 1000
    for (const [legIndex, leg] of call.legs.entries()) {
      let legStart = Number.POSITIVE_INFINITY
      let legEnd = 0
      for (const [partIndex, part] of leg.parts.entries()) {
        const start = callStart + part.at * 1000
        const end = start + part.seconds * 1000
        legStart = Math.min(legStart, start)
        legEnd = Math.max(legEnd, end)
        plan.parts.push({ id: `${call.dialogId}-${legIndex}-${partIndex}`, call, agentExtension: leg.agentExtension, part, start, end })
      }
      plan.activities.push({
        conversationId: `conv-${call.dialogId}`,
        channelSessionId: `cs-${call.dialogId}-${legIndex}`,
        dialogId: call.dialogId,
        agentExtension: leg.agentExtension,
        ani: call.ani,
        legStartTime: new Date(legStart).toISOString(),
        legEndTime: new Date(legEnd).toISOString()
      })
      const legId = formatLegId({ dialogId: call.dialogId, agentExtension: leg.agentExtension, ani: call.ani, startTime: legStart })
      plan.titles.set(legId, `${call.title}, agent ${leg.agentExtension}`)
    }
  }
  return plan
}
