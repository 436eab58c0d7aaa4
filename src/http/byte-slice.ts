import { Readable } from 'node:stream'

/**
 * The bytes [skip, skip + length) of `source`, as a stream that ends after exactly `length` bytes (or
 * fewer if the source ends early). Used when an upstream answers a Range request with the whole body
 * (200, which HTTP allows). The source is destroyed as soon as the slice is complete or the slice is
 * destroyed, so the upstream connection is released instead of draining the rest of the file.
 */
export function sliceStream(source: Readable, skip: number, length: number): Readable {
  async function* slice(): AsyncGenerator<Buffer> {
    let toSkip = skip
    let left = length
    if (left <= 0) {
      source.destroy()
      return
    }
    // Leaving the loop early (return, or the consumer destroying us) makes for-await destroy `source`.
    for await (const chunk of source as AsyncIterable<Buffer>) {
      let buf = chunk
      if (toSkip > 0) {
        if (buf.length <= toSkip) {
          toSkip -= buf.length
          continue
        }
        buf = buf.subarray(toSkip)
        toSkip = 0
      }
      if (buf.length >= left) {
        yield buf.subarray(0, left)
        return
      }
      left -= buf.length
      yield buf
    }
  }
  return Readable.from(slice(), { objectMode: false })
}
