import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import type { Teardownable } from './sox.js'

/*
 * Debian's Chromium (installed by .ci/run), driven by playwright-core: no browser is downloaded, and
 * nothing of the machine's profiles is touched (a fresh user-data-dir under os.tmpdir() per launch).
 */

export const CHROMIUM = '/usr/bin/chromium'

/** What a CI container allows, and nothing that reaches beyond loopback on its own. */
const ARGS = [
  '--no-sandbox', // containers run as root without user namespaces: the sandbox cannot start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // The test starts playback from a script, without the user gesture a browser otherwise asks for.
  '--autoplay-policy=no-user-gesture-required'
]

/** A headless Chromium with a fresh profile, closed (and its profile deleted) when the test ends. */
export async function launchChromium(t: Teardownable): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'cxgw-chromium-'))
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      chromiumSandbox: false,
      acceptDownloads: false,
      timeout: 60_000
    })
  } catch (err) {
    await rm(profile, { recursive: true, force: true })
    throw err
  }
  t.teardown(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  return context
}
