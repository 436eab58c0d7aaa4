import type { ToneSpec } from './tone-wav.js'

/*
 * The demo's synthetic calls, as plain data: what Eleveo recorded (parts, with the reason each ended)
 * and the legs CX knows. Three shapes a newcomer should see handled:
 * - a call put on HOLD twice: three recorded parts of one leg, merged into one WAV behind one link;
 * - a direct transfer that came back to the same agent: two separate recordings, two links, never merged;
 * - a transfer between two agents: one leg, one recording and one link per agent.
 */

export interface DemoPart extends ToneSpec {
  /** Offset of the part's start from the call's start, in seconds. */
  readonly at: number
  readonly endReason: 'HOLD' | 'HANGUP' | 'TRANSFER'
}

export interface DemoLeg {
  readonly agentExtension: string
  readonly parts: readonly DemoPart[]
}

export interface DemoCall {
  readonly dialogId: string
  readonly title: string
  readonly ani: string
  /** Minutes before the demo starts (inside the push job's first window). */
  readonly minutesAgo: number
  readonly legs: readonly DemoLeg[]
}

export const MERGED_CALL_ID = 'demo-two-holds'

export const DEMO_CALLS: readonly DemoCall[] = [
  {
    dialogId: MERGED_CALL_ID,
    title: 'put on hold twice (three parts merged)',
    ani: '+41441234567',
    minutesAgo: 30,
    legs: [
      {
        agentExtension: '1001',
        parts: [
          { at: 0, seconds: 2, freq: 440, endReason: 'HOLD' },
          { at: 12, seconds: 1.5, freq: 554, endReason: 'HOLD' },
          { at: 25, seconds: 2.5, freq: 659, endReason: 'HANGUP' }
        ]
      }
    ]
  },
  {
    dialogId: 'demo-direct-transfer',
    title: 'direct transfer back to the same agent (two recordings)',
    ani: '+41449876543',
    minutesAgo: 25,
    legs: [
      { agentExtension: '1002', parts: [{ at: 0, seconds: 2, freq: 392, endReason: 'TRANSFER' }] },
      { agentExtension: '1002', parts: [{ at: 60, seconds: 1.5, freq: 523, endReason: 'HANGUP' }] }
    ]
  },
  {
    dialogId: 'demo-agent-transfer',
    title: 'transfer from agent 1003 to agent 1004',
    ani: '+41445550000',
    minutesAgo: 20,
    legs: [
      { agentExtension: '1003', parts: [{ at: 0, seconds: 1.5, freq: 330, endReason: 'TRANSFER' }] },
      { agentExtension: '1004', parts: [{ at: 8, seconds: 2, freq: 494, endReason: 'HANGUP' }] }
    ]
  }
]

/** The merged call's parts, in playback order. */
export function mergedCallParts(): readonly DemoPart[] {
  const call = DEMO_CALLS.find((c) => c.dialogId === MERGED_CALL_ID)
  const leg = call?.legs[0]
  if (leg === undefined) throw new Error(`${MERGED_CALL_ID} is missing from DEMO_CALLS`)
  return leg.parts
}
