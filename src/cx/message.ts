import type { CimMessage } from './types.js'
import { uuidV5 } from './uuid.js'

export interface LinkMessageInput {
  readonly legId: string
  readonly ani: string
  readonly channelSessionId: string | null
  readonly conversationId: string | null
  readonly mediaUrl: string
  readonly senderId: string
  readonly activityType: string
  /** Epoch milliseconds. */
  readonly now: number
}

/** One CIM activity message carrying the link to one leg's recording. */
export function buildLinkMessage(input: LinkMessageInput): CimMessage {
  return {
    id: uuidV5(input.legId),
    header: {
      sender: { id: input.senderId, type: 'APP', senderName: 'cx-recording-gateway', additionalDetail: null },
      channelData: {
        channelCustomerIdentifier: input.ani,
        serviceIdentifier: '',
        requestPriority: 0,
        additionalAttributes: []
      },
      language: {},
      timestamp: input.now,
      securityInfo: {},
      stamps: [],
      entities: {},
      channelSessionId: input.channelSessionId,
      conversationId: input.conversationId,
      customer: null,
      schedulingMetaData: null,
      replyToMessageId: null,
      providerMessageId: null
    },
    body: { type: input.activityType, markdownText: '', mediaUrl: input.mediaUrl }
  }
}
