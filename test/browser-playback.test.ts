import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { launchChromium } from './helpers/chromium.js'
import { ffprobePackets, makeMp3 } from './helpers/mp3-tools.js'
import { soxConcat, soxInfo, type Teardownable } from './helpers/sox.js'
import { holdCall, makeHoldCall, startRig, type Rig } from './recordings-setup.js'

/*
 * The agent desk's player, for real: Debian's Chromium loads a page whose <audio> plays a merged leg
 * from the gateway. What a user hears depends on three things no other test sees through a browser's
 * eyes: the duration it computes from our header, seeking (a new Range request in the middle of the
 * virtual file) and that the media stack only ever asks with Range.
 */

interface GatewayRequest {
  method: string
  url: string
  range: string | undefined
}

/** One recording format the player must handle: a merged leg on the rig, and an independent tool's word on its length. */
interface PlaybackCase {
  name: string
  /** Puts the leg on the simulator; returns its legId and the duration an independent tool gives its parts (sox, ffprobe). */
  prepare(rig: Rig): Promise<{ legId: string; seconds: number }>
}

/** Three HOLD parts of 44.1 kHz stereo (9 MB merged): too long for the browser to buffer it whole at once. */
const wavHoldLeg: PlaybackCase = {
  name: 'WAV, three HOLD parts',
  async prepare(rig) {
    const call = await makeHoldCall(rig.dir, 'dlg-browser-wav', { rate: 44_100, channels: 2 }, [20.5, 13.25, 17.75])
    rig.sim.legs.push(...call.legs)
    const joined = await soxConcat(call.paths, join(rig.dir, 'joined.wav'))
    return { legId: call.legId, seconds: (await soxInfo(joined)).durationSeconds }
  }
}

/** MPEG-2.5 samples per Layer III frame. */
const MP3_FRAME_SAMPLES = 576
const MP3_RATE = 8000
const MP3_SECONDS = [500, 300, 400]

/**
 * Three HOLD parts as call recorders write them (8 kHz mono MPEG-2.5 Layer III, 32 kbit/s, LAME's Info
 * frame), 20 minutes together (4.8 MB). The reference length is what ffprobe counts: the parts' audio
 * frames, 576 samples each.
 */
const mp3HoldLeg: PlaybackCase = {
  name: 'MP3, three HOLD parts',
  async prepare(rig) {
    const parts = await Promise.all(
      MP3_SECONDS.map((seconds, i) => makeMp3(rig.dir, `dlg-browser-mp3-${i}`, { seconds, freq: 300 + 150 * i, rate: MP3_RATE, lame: ['-b', '32'] }))
    )
    const call = holdCall('dlg-browser-mp3', parts.map((p) => p.path), MP3_SECONDS)
    rig.sim.legs.push(...call.legs)
    const frames = (await Promise.all(parts.map((p) => ffprobePackets(p.path)))).reduce((n, packets) => n + packets.length, 0)
    return { legId: call.legId, seconds: (frames * MP3_FRAME_SAMPLES) / MP3_RATE }
  }
}

// Format-neutral assertions below: a new audio format is one more case here.
const PLAYBACK_CASES: readonly PlaybackCase[] = [wavHoldLeg, mp3HoldLeg]

/** Every request the gateway's HTTP server receives, as it received it. */
function recordRequests(rig: Rig): GatewayRequest[] {
  const seen: GatewayRequest[] = []
  rig.app.server.on('request', (req: IncomingMessage) => {
    const range = req.headers.range
    seen.push({ method: req.method ?? '', url: req.url ?? '', range })
  })
  return seen
}

/**
 * The player page's script, plain JavaScript as a browser runs it (a string: functions handed to
 * page.evaluate would be TypeScript compiled by tsx for Node, with helpers the page does not have).
 */
const PLAYER_SCRIPT = `
const audio = document.getElementById('player')
const failure = () => new Promise((_resolve, reject) => audio.addEventListener('error',
  () => reject(new Error('media error ' + audio.error.code + ': ' + audio.error.message)), { once: true }))
/** The duration the browser computes once it has read the header. */
window.metadata = () => Number.isNaN(audio.duration)
  ? Promise.race([new Promise((resolve) => audio.addEventListener('loadedmetadata', () => resolve(audio.duration), { once: true })), failure()])
  : Promise.resolve(audio.duration)
/** Seeks, plays until playFor seconds past the seek point (or the end), pauses; says where it got. */
window.seekAndPlay = async (seekTo, playFor) => {
  const failed = failure()
  const seeked = new Promise((resolve) => audio.addEventListener('seeked', resolve, { once: true }))
  audio.currentTime = seekTo
  await Promise.race([seeked, failed])
  const afterSeek = audio.currentTime
  await Promise.race([audio.play(), failed])
  const advanced = new Promise((resolve) => {
    const check = () => (audio.currentTime >= seekTo + playFor || audio.ended ? resolve() : setTimeout(check, 50))
    check()
  })
  await Promise.race([advanced, failed])
  audio.pause()
  return { afterSeek, currentTime: audio.currentTime, error: audio.error === null ? null : audio.error.code }
}
`

/** A page on its own origin (another port), as CX's agent desk would be, with an <audio> of the leg. */
async function servePage(t: Teardownable, audioUrl: string): Promise<string> {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>player</title></head>
<body><audio id="player" preload="metadata" src="${audioUrl}"></audio><script>${PLAYER_SCRIPT}</script></body></html>`
  const server = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html)
    } else {
      res.writeHead(404).end()
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    // The browser keeps its connection alive; it is closed before this (teardowns run last first).
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

interface Played {
  afterSeek: number
  currentTime: number
  error: number | null
}

function rangeStart(range: string | undefined): number | null {
  const m = /^bytes=(\d+)-/.exec(range ?? '')
  return m ? Number(m[1]) : null
}

for (const playback of PLAYBACK_CASES) {
  t.test(`Chromium plays a merged leg: ${playback.name}`, async (t) => {
    // Starting a browser on a CI machine shared with other test files can stall this process's event
    // loop past the default 1 s shedding limit; load shedding is not what this test is about.
    const rig = await startRig(t)
    const leg = await playback.prepare(rig)
    const seen = recordRequests(rig)
    await rig.app.listen({ host: '127.0.0.1', port: 0 })
    const gateway = `http://127.0.0.1:${(rig.app.server.address() as AddressInfo).port}`
    const recordingPath = `/recordings/${encodeURIComponent(leg.legId)}`
    const head = await rig.app.inject({ method: 'HEAD', url: recordingPath })
    t.equal(head.statusCode, 200, 'the leg is there')
    const size = Number(head.headers['content-length'])
    seen.length = 0

    const pageUrl = await servePage(t, gateway + recordingPath)
    // Launched last so that it closes first: its open connections would hold the servers' close.
    const browser = await launchChromium(t)
    const page = await browser.newPage()
    await page.goto(pageUrl)

    const duration = await page.evaluate<number>('window.metadata()')
    t.ok(Math.abs(duration - leg.seconds) < 0.001, `reported duration ${duration} s is the reference tool's ${leg.seconds} s`)

    const seekTo = leg.seconds - 2
    const played = await page.evaluate<Played>(`window.seekAndPlay(${seekTo}, 0.5)`)
    t.ok(Math.abs(played.afterSeek - seekTo) < 0.05, `seeked to ${played.afterSeek} s (asked ${seekTo} s)`)
    t.ok(played.currentTime >= seekTo + 0.5, `playback went on from there to ${played.currentTime} s`)
    t.equal(played.error, null, 'no media error')

    const media = seen.filter((r) => r.url.startsWith('/recordings/'))
    t.ok(media.length >= 2, `the player made ${media.length} requests (the first load, then the seek)`)
    t.ok(
      media.every((r) => rangeStart(r.range) !== null),
      `every one is a Range request: ${media.map((r) => `${r.method} ${r.range ?? '(none)'}`).join(', ')}`
    )
    t.ok(
      media.some((r) => (rangeStart(r.range) ?? 0) >= size / 2),
      `the seek asked for the end of the file (${size} bytes) without reading up to it`
    )
  })
}
