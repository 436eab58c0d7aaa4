import type { ServerResponse } from 'node:http'

/**
 * Simulated latency for a simulator's handlers: each sleep ends early when the client goes away, and
 * `cancelAll` ends the pending ones, so closing a simulator never waits for a sleeping handler.
 */
export function createSleeper(): { sleep: (ms: number, res: ServerResponse) => Promise<void>; cancelAll: () => void } {
  const timers = new Set<NodeJS.Timeout>()
  return {
    sleep(ms, res) {
      if (ms <= 0) return Promise.resolve()
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms)
        timers.add(timer)
        res.once('close', done)
        function done(): void {
          clearTimeout(timer)
          timers.delete(timer)
          res.off('close', done)
          resolve()
        }
      })
    },
    cancelAll() {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
    }
  }
}
