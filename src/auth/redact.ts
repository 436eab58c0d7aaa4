/** Parameter names whose values grant access: a signed link's `sig`, tokens. */
const ACCESS_PARAMS = new Set(['sig', 'signature', 'token', 'access_token'])

/**
 * A query parameter inside text: its (possibly percent-encoded) name, then its value up to the
 * characters that end a URL inside text.
 */
const PARAM = /([?&;])((?:[A-Za-z0-9_.~-]|%[0-9A-Fa-f]{2})+)=([^&#\s"'<>\\]*)/g

/**
 * Removes the values of query parameters that grant access from a URL, or from any text that may quote
 * one (an upstream answer echoing the link it refused), before it reaches a log or the state files.
 * Names are compared decoded, as Fastify's query parser sees them: `?%73ig=` is `?sig=` to the
 * signature check, so it must be to the redaction too. Decoding repeats so that a name encoded twice
 * (`%2573ig`), which some proxy may decode once more on its way, is caught as well.
 */
export function redactAccessParams(text: string): string {
  return text.replace(PARAM, (whole, sep: string, name: string) =>
    ACCESS_PARAMS.has(decodedName(name)) ? `${sep}${name}=[REDACTED]` : whole
  )
}

function decodedName(name: string): string {
  let current = name
  for (let i = 0; i < 4 && current.includes('%'); i++) {
    let next: string
    try {
      next = decodeURIComponent(current)
    } catch {
      break
    }
    if (next === current) break
    current = next
  }
  return current.toLowerCase()
}

/** Hides credentials in a URL so it can appear in an error message or a log line. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^/@]*)@/, '//***@')
}
