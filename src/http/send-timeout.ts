import type { ServerResponse } from 'node:http'

/**
 * Calls `onStall` once when no byte of `res` has reached its socket for `ms` (checked every quarter of
 * it, so a stall is seen within 1.25 × ms). A client that stops reading keeps its socket, its upstream
 * connection and its stream slot for as long as it likes otherwise: TCP backpressure alone never ends it.
 * Progress is the socket's byte count, so this costs nothing per chunk.
 */
export function onSendStall(res: ServerResponse, ms: number, onStall: () => void): void {
  const written = (): number => res.socket?.bytesWritten ?? 0
  let last = written()
  let lastProgressAt = Date.now()
  const timer = setInterval(
    () => {
      const now = written()
      if (now !== last) {
        last = now
        lastProgressAt = Date.now()
      } else if (Date.now() - lastProgressAt >= ms) {
        clearInterval(timer)
        onStall()
      }
    },
    Math.max(1, Math.floor(ms / 4))
  )
  timer.unref()
  res.once('close', () => clearInterval(timer))
}
