import type { Readable } from 'node:stream'

/** An upstream answer is larger than the reader allows; nothing beyond the cap was kept. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError'
  constructor(
    readonly limit: number,
    /** The Content-Length the answer declared, or null when it declared none (chunked). */
    readonly declared: number | null
  ) {
    super(
      declared === null
        ? `the answer is larger than ${limit} bytes`
        : `the answer declares ${declared} bytes, more than the ${limit} allowed`
    )
  }
}

const ignore = (): void => {}

/**
 * Reads a whole upstream body into memory, never more than `maxBytes` of it. A declared Content-Length
 * over the cap is refused before reading; without one (a chunked answer) the bytes are counted as they
 * arrive and the body is destroyed the moment the count passes the cap, so the connection is dropped
 * instead of downloaded. Stream errors (timeouts, aborts, resets) are rethrown as they are, for the
 * caller to name in its own terms.
 */
export async function readBounded(body: Readable, maxBytes: number, contentLength?: string | string[]): Promise<Buffer> {
  // undici reports destroying an unfinished body as an 'error' event; an unheard one would crash the process.
  body.on('error', ignore)
  const declared = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength)
  if (contentLength !== undefined && Number.isFinite(declared) && declared > maxBytes) {
    body.destroy()
    throw new BodyTooLargeError(maxBytes, declared)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length
    // Breaking out of for-await destroys the body.
    if (total > maxBytes) break
    chunks.push(chunk)
  }
  if (total > maxBytes) throw new BodyTooLargeError(maxBytes, null)
  return Buffer.concat(chunks, total)
}
