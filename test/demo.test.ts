import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { mergedCallParts } from '../src/demo/calls.js'
import { toneSamples, toneWav } from '../src/demo/tone-wav.js'
import { startDemo } from './helpers/demo-process.js'
import { soxConcat, soxInfo, soxSamples, tempDir } from './helpers/sox.js'

/*
 * `npm run demo` as a newcomer runs it (src/demo.ts through tsx, in a child process): it prints a ready
 * curl line; the recording behind it is the merged two-hold call, as long as its three parts together
 * and sample for sample what sox makes of them; Ctrl-C stops it cleanly.
 */

t.test('the demo prints a signed link to the merged recording, serves it, and stops on Ctrl-C', async (t) => {
  const dir = await tempDir(t, 'cxgw-demo-')
  const demo = await startDemo(t)
  const stdout = demo.stdout()

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

  demo.child.kill('SIGINT')
  const [code, signal] = await demo.exited
  t.equal(signal, null)
  t.equal(code, 0, `clean exit (stderr: ${demo.stderr()})`)
  t.match(demo.stdout(), /Stopped\.\n$/)
})
