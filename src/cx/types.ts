/** One CX leg as the voice-activities API reports it, after shape checks (values not yet validated as a legId). */
export interface VoiceActivity {
  readonly conversationId: string | null
  readonly channelSessionId: string | null
  readonly dialogId: string
  readonly agentExtension: string
  readonly ani: string
  /** As CX sent it (ISO); parsed by the push job, which records a bad value as a failed leg. */
  readonly legStartTime: string
  readonly legEndTime: string | null
}

/** A half-open time range [start, end) in epoch milliseconds. */
export interface TimeWindow {
  readonly start: number
  readonly end: number
}

/** A CIM message as the Third-Party Activities API takes it (see the GUIDE). */
export interface CimMessage {
  readonly id: string
  readonly header: {
    readonly sender: { id: string; type: 'APP'; senderName: string; additionalDetail: null }
    readonly channelData: {
      channelCustomerIdentifier: string
      serviceIdentifier: string
      requestPriority: number
      additionalAttributes: unknown[]
    }
    readonly language: Record<string, never>
    readonly timestamp: number
    readonly securityInfo: Record<string, never>
    readonly stamps: unknown[]
    readonly entities: Record<string, never>
    readonly channelSessionId: string | null
    readonly conversationId: string | null
    readonly customer: null
    readonly schedulingMetaData: null
    readonly replyToMessageId: null
    readonly providerMessageId: null
  }
  readonly body: { readonly type: string; readonly markdownText: string; readonly mediaUrl: string }
}

/**
 * What became of one message. `rejected`: CX said the message is wrong (4xx) — recorded, never retried.
 * `retry`: CX failed or did not answer in time (5xx, timeout, connection error) — pending, retried later.
 */
export type PushOutcome =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'rejected'; readonly status: number; readonly reason: string }
  | { readonly kind: 'retry'; readonly reason: string }
