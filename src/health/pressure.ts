/** Why the under-pressure limits say the process is overloaded, naming each limit it is over. */
export function describePressure(
  usage: { eventLoopDelay: number; heapUsed: number; rssBytes: number },
  limits: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number; maxRssBytes: number }
): string {
  const over: string[] = []
  if (limits.maxEventLoopDelayMs > 0 && usage.eventLoopDelay > limits.maxEventLoopDelayMs) {
    // under-pressure reports Infinity when its delay monitor got no sample at all between two samplings
    // (once a second): the loop was blocked for the whole second, e.g. by a long synchronous task.
    const delay = Number.isFinite(usage.eventLoopDelay) ? `delay ${Math.round(usage.eventLoopDelay)} ms` : 'blocked for a whole 1 s sample'
    over.push(`event loop ${delay} > MAX_EVENT_LOOP_DELAY_MS ${limits.maxEventLoopDelayMs}`)
  }
  if (limits.maxHeapUsedBytes > 0 && usage.heapUsed > limits.maxHeapUsedBytes) {
    over.push(`heap used ${usage.heapUsed} B > MAX_HEAP_USED_BYTES ${limits.maxHeapUsedBytes}`)
  }
  if (limits.maxRssBytes > 0 && usage.rssBytes > limits.maxRssBytes) {
    over.push(`RSS ${usage.rssBytes} B > MAX_RSS_BYTES ${limits.maxRssBytes}`)
  }
  return over.length > 0 ? `over its limits: ${over.join('; ')}` : 'under pressure'
}
