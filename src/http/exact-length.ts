import { pipeline, Transform, type Readable } from 'node:stream'

const ignore = (): void => {}

/**
 * Passes `source` through and fails (instead of ending) when it ends before `length` bytes: a short
 * body that ended cleanly would otherwise look like a complete file to whoever reads it. Destroying
 * the result destroys the source, which releases its upstream connection.
 */
export function exactLength(source: Readable, length: number, shortError: (received: number) => Error): Readable {
  let received = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length
      callback(null, chunk)
    },
    flush(callback) {
      callback(received === length ? null : shortError(received))
    }
  })
  // pipeline forwards the source's errors to `counter` and destroys the source when `counter` goes.
  pipeline(source, counter, ignore)
  return counter
}
