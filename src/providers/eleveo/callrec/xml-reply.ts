/*
 * CallREC's servlets answer in one-element XML documents (GUIDE, "Eleveo CallREC"):
 *   <ok sessionid="…"/>   <reply>TOKEN</reply>   <error code="…" message="…"/>
 * Read with three anchored patterns rather than an XML library: the documents are tiny, fixed and
 * come from one vendor, and nothing here needs namespaces, entities beyond the five predefined ones, or
 * nesting.
 */

export type ServletReply =
  | { readonly kind: 'ok'; readonly sessionId: string }
  | { readonly kind: 'reply'; readonly value: string }
  | { readonly kind: 'error'; readonly code: string; readonly message: string }
  | { readonly kind: 'unknown' }

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => ENTITIES[name] ?? '')
}

function attribute(attrs: string, name: string): string | null {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'i').exec(attrs)
  return m === null ? null : unescapeXml(m[1] ?? m[2] ?? '')
}

export function parseServletReply(body: string): ServletReply {
  const doc = body.replace(/^\uFEFF?\s*(?:<\?xml[^>]*\?>\s*)?/, '').trim()
  const element = /^<(ok|reply|error)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1\s*>)$/i.exec(doc)
  if (element === null) return { kind: 'unknown' }
  const name = element[1]!.toLowerCase()
  const attrs = element[2] ?? ''
  if (name === 'ok') {
    const sessionId = attribute(attrs, 'sessionid')
    return sessionId === null || sessionId === '' ? { kind: 'unknown' } : { kind: 'ok', sessionId }
  }
  if (name === 'reply') {
    const value = unescapeXml(element[3] ?? '').trim()
    return value === '' ? { kind: 'unknown' } : { kind: 'reply', value }
  }
  return { kind: 'error', code: attribute(attrs, 'code') ?? '', message: attribute(attrs, 'message') ?? unescapeXml(element[3] ?? '').trim() }
}
