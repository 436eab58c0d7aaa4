import t from 'tap'
import { describePressure } from '../../src/health/pressure.js'

/* The readiness check's words for why the gateway sheds load: each limit it is over, named by its variable. */

const LIMITS = { maxEventLoopDelayMs: 1000, maxHeapUsedBytes: 1_000_000, maxRssBytes: 0 }

t.test('names each limit exceeded, with the value and the variable', async (t) => {
  t.equal(describePressure({ eventLoopDelay: 1500.4, heapUsed: 2_000_000, rssBytes: 9e9 }, LIMITS), 'over its limits: event loop delay 1500 ms > MAX_EVENT_LOOP_DELAY_MS 1000; heap used 2000000 B > MAX_HEAP_USED_BYTES 1000000')
  t.equal(describePressure({ eventLoopDelay: 10, heapUsed: 10, rssBytes: 9e9 }, LIMITS), 'under pressure', 'a limit at 0 is off')
})

t.test('a loop blocked for a whole sample (under-pressure says Infinity) is said in words, not as "Infinity ms"', async (t) => {
  t.equal(
    describePressure({ eventLoopDelay: Infinity, heapUsed: 0, rssBytes: 0 }, LIMITS),
    'over its limits: event loop blocked for a whole 1 s sample > MAX_EVENT_LOOP_DELAY_MS 1000'
  )
})
