// The structure map: rooms (src/<folder or module>, plugins, routes, simulators) on floors by import
// depth, from relative imports only. Exits 1 if any import points back up (or sideways, or in a cycle),
// naming the file and the import, so the layering the code was given stays.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const files = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (path.endsWith('.ts')) files.push(path)
  }
}
for (const top of ['src', 'plugins', 'routes', 'simulators']) walk(join(root, top))

const room = (file) => {
  const parts = relative(root, file).split('/')
  return parts[0] === 'src' ? `src/${parts[1].replace(/\.ts$/, '')}` : parts[0]
}
const edges = new Map()
const imports = []
for (const file of files) {
  for (const m of readFileSync(file, 'utf8').matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), m[1]).replace(/\.js$/, '.ts')
    const [from, to] = [room(file), room(target)]
    if (from === to) continue
    if (!edges.has(from)) edges.set(from, new Set())
    edges.get(from).add(to)
    imports.push({ file: relative(root, file), target: relative(root, target), from, to })
  }
}

// Floor = longest chain of imports below a room; a room met again while on the chain is a cycle (0).
const floors = new Map()
const onChain = new Set()
const floorOf = (r) => {
  if (floors.has(r)) return floors.get(r)
  if (onChain.has(r)) return 0
  onChain.add(r)
  let floor = 0
  for (const below of edges.get(r) ?? []) floor = Math.max(floor, floorOf(below) + 1)
  onChain.delete(r)
  floors.set(r, floor)
  return floor
}
for (const file of files) floorOf(room(file))

const byFloor = []
for (const [r, f] of floors) (byFloor[f] ??= []).push(r)
byFloor.forEach((rooms, f) => console.log(`floor ${f}: ${rooms.sort().join(', ')}`))
const up = imports.filter((i) => floors.get(i.to) >= floors.get(i.from))
for (const i of up) console.error(`import points up: ${i.file} -> ${i.target} (${i.from}, floor ${floors.get(i.from)} -> ${i.to}, floor ${floors.get(i.to)})`)
process.exitCode = up.length > 0 ? 1 : 0
