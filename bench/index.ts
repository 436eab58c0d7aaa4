import { cpus, loadavg } from 'node:os'
import { runMemoryBench } from './memory.js'
import { runPushBench } from './push.js'
import { runRelayBench } from './relay.js'
import { closeRig } from './rig.js'
import { runStartupBench } from './startup.js'
import { runTtfbBench } from './ttfb.js'

/*
 * `npm run bench [name ...]`: figures, not assertions. Every retrieval figure is printed beside a
 * baseline measured in the same run (the bare proxy in bare-proxy.ts, a direct request to the simulator,
 * a `node -e` server), so a busy machine moves both and the ratio stays meaningful. To add a bench,
 * write bench/<name>.ts exporting an async function and list it here.
 */
const BENCHES: Record<string, () => Promise<void>> = {
  relay: runRelayBench,
  ttfb: runTtfbBench,
  memory: runMemoryBench,
  startup: runStartupBench,
  push: runPushBench
}

const wanted = process.argv.slice(2)
const unknown = wanted.filter((n) => !(n in BENCHES))
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; available: ${Object.keys(BENCHES).join(', ')}`)
  process.exit(2)
}

console.log(`node ${process.version}, ${cpus().length} CPU(s): ${cpus()[0]?.model ?? 'unknown'}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
try {
  for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
    const t0 = Date.now()
    console.log(`\n== ${name}`)
    await BENCHES[name]?.()
    console.log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }
} finally {
  await closeRig()
}
