import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { request } from 'undici'
import { mergedCallParts } from '../src/demo/calls.js'
import { toneSamples, toneWav } from '../src/demo/tone-wav.js'
import { soxConcat, soxInfo, soxSamples, tempDir } from './helpers/sox.js'

/*
 * `npm run demo` as a newcomer runs it (src/demo.ts through tsx, in a child process): it prints a ready
 * curl line; the recording behind it is the merged two-hold call, as long as its three parts together
 * and sample for sample what sox makes of them; Ctrl-C stops it cleanly.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))

t.test('the demo prints a signed link to the merged recording, serves it, and stops on Ctrl-C', async (t) => {
  const dir = await tempDir(t, 'cxgw-demo-')
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DEMO_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const serving = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (stdout.includes('Serving until Ctrl-C.')) resolve()
    })
    void exited.then(([code]) => reject(new Error(`the demo exited (${code}) early:\n${stdout}\n${stderr}`)))
  })
  await serving

  t.match(stdout, /Push run \S+: ok, 5 links pushed to CX/, 'one push, five links (three calls)')
  const links = [...stdout.matchAll(/^ {4}(http:\/\/127\.0\.0\.1:\d+\/recordings\/\S+)$/gm)].map((m) => m[1]!)
  t.equal(links.length, 5, 'every pushed link is printed')
  t.ok(links.every((l) => /\?sig=[A-Za-z0-9_-]{43}$/.test(l)), 'every link is signed')

  const curl = /^ {2}curl -o merged\.wav '([^']+)'$/m.exec(stdout)
  if (curl === null) throw new Error(`no curl line in:\n${stdout}`)
  const url = curl[1]!
  t.ok(links.includes(url), 'the curl line uses one of the pushed links')

  const res = await request(url)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'audio/wav')
  const file = join(dir, 'merged.wav')
  await writeFile(file, Buffer.from(await res.body.arrayBuffer()))

  // The parts, written by the same JavaScript writer, joined by sox: the reference.
  const parts = mergedCallParts()
  t.equal(parts.length, 3, 'the merged call has three parts (two holds)')
  const partFiles: string[] = []
  for (const [i, part] of parts.entries()) {
    const path = join(dir, `part-${i}.wav`)
    await writeFile(path, toneWav(part))
    partFiles.push(path)
  }
  const info = await soxInfo(file)
  t.equal(info.samples, parts.reduce((n, p) => n + toneSamples(p), 0), 'as long as its three parts together')
  t.equal(info.sampleRate, 8000)
  t.equal(info.channels, 1)
  const [ours, reference] = await Promise.all([soxSamples(file), soxSamples(await soxConcat(partFiles, join(dir, 'ref.wav')))])
  t.ok(Buffer.from(ours.buffer).equals(Buffer.from(reference.buffer)), 'sample for sample what sox makes of the parts')

  const unsigned = await request(url.split('?')[0]!)
  t.equal(unsigned.statusCode, 401, 'the same link without its signature is refused')
  await unsigned.body.dump()

  child.kill('SIGINT')
  const [code, signal] = await exited
  t.equal(signal, null)
  t.equal(code, 0, `clean exit (stderr: ${stderr})`)
  t.match(stdout, /Stopped\.\n$/)
})
