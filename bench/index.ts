import { cpus, loadavg } from 'node:os'
import { runMemoryBench } from './memory.js'
import { runProfileBench } from './profile.js'
import { runEfswitchIndexBench } from './efswitch-index.js'
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
  push: runPushBench,
  'efswitch-index': runEfswitchIndexBench
}
/** Run by name only (`npm run bench -- profile`): a diagnosis, not a figure. */
const ON_REQUEST: Record<string, () => Promise<void>> = { profile: runProfileBench }

const wanted = process.argv.slice(2)
const unknown = wanted.filter((n) => !(n in BENCHES) && !(n in ON_REQUEST))
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; available: ${[...Object.keys(BENCHES), ...Object.keys(ON_REQUEST)].join(', ')}`)
  process.exit(2)
}

console.log(`node ${process.version}, ${cpus().length} CPU(s): ${cpus()[0]?.model ?? 'unknown'}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
try {
  for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
    const t0 = Date.now()
    console.log(`\n== ${name}`)
    await (BENCHES[name] ?? ON_REQUEST[name])?.()
    console.log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }
} finally {
  await closeRig()
}
