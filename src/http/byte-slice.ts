import { Readable } from 'node:stream'

const ignore = (): void => {}

/**
 * The bytes [skip, skip + length) of `source`, as a stream that ends after exactly `length` bytes (or
 * fewer if the source ends early: the consumer counts). Used when an upstream answers a Range request
 * with the whole body (200, which HTTP allows). The source is destroyed as soon as the slice is
 * complete, or when the slice is destroyed (even before it was ever read), so the upstream connection
 * is released instead of draining or holding the rest of the file.
 */
export function sliceStream(source: Readable, skip: number, length: number): Readable {
  let toSkip = skip
  let left = length
  let done = false

  const finish = (): void => {
    done = true
    source.off('data', onData)
    // Destroying an unfinished HTTP body is reported as an error nobody needs to hear.
    source.on('error', ignore)
    source.destroy()
  }

  const out = new Readable({
    read() {
      if (!done) source.resume()
    },
    destroy(err, callback) {
      if (!done) finish()
      callback(err)
    }
  })

  function onData(chunk: Buffer): void {
    let buf = chunk
    if (toSkip > 0) {
      if (buf.length <= toSkip) {
        toSkip -= buf.length
        return
      }
      buf = buf.subarray(toSkip)
      toSkip = 0
    }
    if (buf.length >= left) {
      out.push(buf.subarray(0, left))
      left = 0
      out.push(null)
      finish()
      return
    }
    left -= buf.length
    if (!out.push(buf)) source.pause()
  }

  source.on('data', onData)
  source.once('end', () => {
    if (done) return
    done = true
    out.push(null)
  })
  source.once('error', (err) => {
    if (!done) out.destroy(err)
  })
  if (left <= 0) {
    out.push(null)
    finish()
  }
  return out
}
