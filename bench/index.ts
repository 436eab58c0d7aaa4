import { cpus } from 'node:os'
import { runRetrievalBench } from './retrieval.js'
import { runPushBench } from './push.js'
import { runEfswitchIndexBench } from './efswitch-index.js'

/*
 * `npm run bench [name ...]`: figures, not assertions. Each module prints its own figures with their
 * targets. To add one, write bench/<name>.ts exporting an async function and list it here.
 */
const BENCHES: Record<string, () => Promise<void>> = {
  retrieval: runRetrievalBench,
  push: runPushBench,
  'efswitch-index': runEfswitchIndexBench
}

const wanted = process.argv.slice(2)
const unknown = wanted.filter((n) => !(n in BENCHES))
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; available: ${Object.keys(BENCHES).join(', ')}`)
  process.exit(2)
}

console.log(`node ${process.version}, ${cpus().length} CPU(s): ${cpus()[0]?.model ?? 'unknown'}`)
for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
  const t0 = Date.now()
  await BENCHES[name]?.()
  console.log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`)
}
