import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { sliceStream } from '../../http/byte-slice.js'
import { exactLength } from '../../http/exact-length.js'
import { parseContentRange } from '../../http/range.js'
import type { ByteRange, SegmentInfo } from '../../recording.js'
import { eleveoContractError, eleveoFailure, eleveoStatusError } from './failure.js'

/*
 * Reading an audio answer to a ranged GET, whether the server honoured the Range (206) or sent the whole
 * file (200, which HTTP allows and some CallREC versions do). Memory stays bounded either way: only the
 * bytes asked for are read, the rest of a whole-file answer is never downloaded.
 */

type Answer = Dispatcher.ResponseData
const ignore = (): void => {}

function header(res: Answer, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Drops an answer's body without reading it (destroying an unfinished body is reported as an error). */
function release(res: Answer): void {
  res.body.on('error', ignore)
  res.body.destroy()
}

async function discard(res: Answer): Promise<void> {
  await res.body.dump({ limit: 64 * 1024 }).catch(ignore)
}

/** Size and first `headBytes` bytes from the answer to `Range: bytes=0-(headBytes-1)`. */
export async function headFromAnswer(res: Answer, headBytes: number, what: string, timeoutMs: number, signal?: AbortSignal): Promise<SegmentInfo> {
  if (res.statusCode === 206) {
    const cr = parseContentRange(header(res, 'content-range'))
    if (cr === null || cr.start !== 0 || cr.size === null) {
      release(res)
      throw eleveoContractError(what, `206 with an unusable Content-Range ${JSON.stringify(header(res, 'content-range'))}`)
    }
    const want = Math.min(cr.end + 1, headBytes)
    const head = await readHead(res, want, what, timeoutMs, signal)
    if (head.length !== want) throw eleveoContractError(what, `promised ${cr.end + 1} bytes, sent ${head.length}`)
    return { size: cr.size, head }
  }
  if (res.statusCode === 200) {
    const size = Number(header(res, 'content-length'))
    if (header(res, 'content-length') === undefined || !Number.isSafeInteger(size) || size < 0) {
      release(res)
      throw eleveoContractError(what, 'the audio has no Content-Length, so its size is unknown')
    }
    const want = Math.min(size, headBytes)
    const head = await readHead(res, want, what, timeoutMs, signal)
    if (head.length < want) throw eleveoContractError(what, `promised ${size} bytes, sent ${head.length}`)
    return { size, head }
  }
  if (res.statusCode === 416) {
    // Only an empty file cannot satisfy bytes=0-…; the audio layer reports it as unreadable.
    const cr = parseContentRange(header(res, 'content-range'))
    await discard(res)
    if (cr !== null && cr.start === null && cr.size === 0) return { size: 0, head: Buffer.alloc(0) }
    throw eleveoStatusError(what, 416)
  }
  await discard(res)
  throw eleveoStatusError(what, res.statusCode)
}

/**
 * The bytes of `range` from the answer to `Range: bytes=start-end`, as a stream that ends after exactly
 * that many bytes and fails (never ends cleanly) when the server sends fewer.
 */
export async function sliceFromAnswer(res: Answer, range: ByteRange, what: string): Promise<Readable> {
  const length = range.end - range.start + 1
  const short = (received: number): Error =>
    eleveoContractError(what, `the audio ended after ${received} of the ${length} bytes asked for (bytes ${range.start}-${range.end})`)
  if (res.statusCode === 206) {
    const cr = parseContentRange(header(res, 'content-range'))
    if (cr === null || cr.start === null || cr.start !== range.start || cr.end < range.end) {
      release(res)
      throw eleveoContractError(what, `asked for bytes ${range.start}-${range.end}, got Content-Range ${JSON.stringify(header(res, 'content-range'))}`)
    }
    // A range rounded up (to a block boundary) has our bytes first: take them, drop the connection.
    return exactLength(cr.end === range.end ? res.body : sliceStream(res.body, 0, length), length, short)
  }
  if (res.statusCode === 200) {
    const size = Number(header(res, 'content-length'))
    if (header(res, 'content-length') !== undefined && Number.isSafeInteger(size) && size < range.end + 1) {
      release(res)
      throw eleveoContractError(what, `needed bytes up to ${range.end}, the file has ${size}`)
    }
    // Range ignored: skip to our start as the bytes flow past (nothing is held), stop after our end.
    return exactLength(sliceStream(res.body, range.start, length), length, short)
  }
  await discard(res)
  throw eleveoStatusError(what, res.statusCode)
}

async function readHead(res: Answer, want: number, what: string, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  if (want === 0) {
    release(res)
    return Buffer.alloc(0)
  }
  try {
    res.body.on('error', ignore)
    // Breaking out of for-await destroys the body, which aborts the rest of a whole-file answer.
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk)
      total += chunk.length
      if (total >= want) break
    }
  } catch (err) {
    throw eleveoFailure(err, what, timeoutMs, signal)
  }
  return Buffer.concat(chunks, total).subarray(0, want)
}
