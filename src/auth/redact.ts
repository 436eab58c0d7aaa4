/**
 * Removes the values of query parameters that grant access (a signed link's `sig`, tokens) from a URL,
 * or from any text that may quote one (an upstream answer echoing the link it refused), before it
 * reaches a log or the state files. Values stop at the characters that end a URL inside text.
 */
export function redactAccessParams(text: string): string {
  return text.replace(/([?&](?:sig|signature|token|access_token)=)[^&#\s"'<>\\]*/gi, '$1[REDACTED]')
}

/** Hides credentials in a URL so it can appear in an error message or a log line. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^/@]*)@/, '//***@')
}
