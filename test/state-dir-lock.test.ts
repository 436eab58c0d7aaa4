import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { LOCK_FILE } from '../src/state/dir-lock.js'
import { makeTone, tempDir } from './helpers/sox.js'
import { baseTime, cxLeg, eleveoLeg, legIdOf, startPushRig } from './push-rig.js'

/*
 * One STATE_DIR, one gateway (issue 14 item 13): a second gateway on the same directory (a shared
 * volume, a second replica without STATE_DATABASE_URL) serves recordings but refuses to push, saying
 * why; the first one's state is left alone. A lock left behind by a gateway that died is taken over.
 */

t.test('a second gateway on the same STATE_DIR serves recordings but refuses to push', async (t) => {
  const b = baseTime()
  const wavDir = await tempDir(t, 'cxgw-lock-wav-')
  const wavPath = await makeTone(join(wavDir, 'a.wav'), { seconds: 0.4, freq: 500 })
  const first = cxLeg('dlg-lock-1', '1001', b)
  const rig = await startPushRig(t, { activities: [first], legs: [{ ...eleveoLeg('l1', 'dlg-lock-1', '1001', b, b + 400), wavPath }] })
  t.equal((await rig.run()).pushed, 1)

  const lines: string[] = []
  const second = await buildApp({ config: { ...rig.config, instanceId: 'second' }, logger: { stream: { write: (l: string) => void lines.push(l) } } })
  t.teardown(() => second.close())
  const audio = await second.inject({ method: 'GET', url: `/recordings/${encodeURIComponent(legIdOf(first))}` })
  t.equal(audio.statusCode, 200, 'the second gateway serves recordings')

  const later = Date.now() + 1
  rig.cx.activities.push(cxLeg('dlg-lock-2', '1001', later))
  rig.eleveo.legs.push({ ...eleveoLeg('l2', 'dlg-lock-2', '1001', later, later + 400), wavPath })
  await new Promise((r) => setTimeout(r, 5))
  const refused = await second.pushRunner?.start('manual').done
  t.match(refused, { status: 'failed', error: /STATE_DIR .* is in use by another gateway \(instance test-instance on .*set STATE_DATABASE_URL/ })
  t.ok(lines.some((l) => l.includes('"push run failed"') && l.includes('STATE_DATABASE_URL')), 'the refusal is logged')
  t.equal(rig.cx.received.length, 1, 'the second gateway pushed nothing')

  const report = await rig.run()
  t.equal(report.status, 'ok', report.error ?? '')
  t.equal(report.pushed, 1)
  t.same([...rig.cx.countsById().values()], [1, 1], 'every link once: the first gateway’s state was not disturbed')
})

t.test('a fresh install creates a missing STATE_DIR and takes its lock', async (t) => {
  const root = await tempDir(t, 'cxgw-fresh-')
  const dir = join(root, 'not', 'yet', 'there')
  const b = baseTime()
  const rig = await startPushRig(t, { activities: [cxLeg('dlg-fresh', '1001', b)], legs: [eleveoLeg('f1', 'dlg-fresh', '1001', b, b + 400)], env: { STATE_DIR: dir } })
  t.match(await rig.run(), { status: 'ok', pushed: 1 })
  const holder = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as { instance: string; pid: number }
  t.match(holder, { instance: 'test-instance', pid: process.pid })
  await rig.app.close()
  await t.rejects(stat(join(dir, LOCK_FILE)), { code: 'ENOENT' }, 'released on close')
})

t.test('a lock left by a gateway killed on this host is taken over at once', async (t) => {
  const dir = await tempDir(t, 'cxgw-dead-')
  const child = spawn(process.execPath, ['-e', ''])
  await once(child, 'exit')
  const dead = { instance: 'killed', host: hostname(), boot: await bootId(), pidNs: await pidNs(), pid: child.pid, since: new Date().toISOString() }
  await writeFile(join(dir, LOCK_FILE), JSON.stringify(dead))
  const b = baseTime()
  const rig = await startPushRig(t, { activities: [cxLeg('dlg-dead', '1001', b)], legs: [eleveoLeg('d1', 'dlg-dead', '1001', b, b + 400)], env: { STATE_DIR: dir } })
  t.match(await rig.run(), { status: 'ok', pushed: 1 })
})

t.test('a lock of a gateway on another host is taken over once untouched for STATE_DIR_LOCK_STALE_S', async (t) => {
  const dir = await tempDir(t, 'cxgw-stale-')
  const elsewhere = { instance: 'gw-b', host: 'another-host', boot: 'x', pidNs: 'y', pid: 1, since: new Date().toISOString() }
  await writeFile(join(dir, LOCK_FILE), JSON.stringify(elsewhere))
  const b = baseTime()
  const rig = await startPushRig(t, {
    activities: [cxLeg('dlg-stale', '1001', b)],
    legs: [eleveoLeg('s1', 'dlg-stale', '1001', b, b + 400)],
    env: { STATE_DIR: dir, STATE_DIR_LOCK_STALE_S: '1' }
  })
  t.match(await rig.run(), { status: 'failed', error: /in use by another gateway \(instance gw-b on another-host/ }, 'a live-looking lock is respected')
  t.equal(rig.cx.received.length, 0)
  // Nobody touches the file for longer than the stale time, by our clock.
  await new Promise((r) => setTimeout(r, 1200))
  t.match(await rig.run(), { status: 'ok', pushed: 1 }, 'then it is taken over')
})

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim()
}
async function pidNs(): Promise<string> {
  const { readlink } = await import('node:fs/promises')
  return readlink('/proc/self/ns/pid').catch(() => '')
}
