import type { PushRunReport } from '../state/types.js'

/*
 * `cx-recording-gateway backfill --from ISO --to ISO`: asks the running gateway (its admin API, the
 * same as `POST /admin/push-runs`) to push the links of a past period, follows the run's live counters
 * and prints a summary. The gateway does the work: it already holds the state store (one process per
 * file store) and, with several instances, the push lock; a second process doing it beside them would
 * have neither.
 */

export interface BackfillOptions {
  /** The gateway, e.g. http://127.0.0.1:3000. */
  readonly url: string
  readonly adminToken: string
  readonly from: string
  readonly to: string
  /** A redrawn progress bar (a terminal) or one plain line per change (logs, pipes). */
  readonly tty: boolean
  readonly write: (text: string) => void
  /** Between two looks at the run's counters. Default 500 ms. */
  readonly pollMs?: number
}

export class BackfillError extends Error {
  constructor(
    message: string,
    readonly fix: string
  ) {
    super(message)
    this.name = 'BackfillError'
  }
}

interface ErrorBody {
  code?: string
  message?: string
}

const BAR_WIDTH = 24

/** `[██████░░░░░░] 3/12 windows · 40 pushed · 2 pending · 0 failed` */
export function progressLine(r: PushRunReport): string {
  const total = r.windows.length
  const done = r.windowsDone ?? 0
  const filled = total === 0 ? 0 : Math.round((done / total) * BAR_WIDTH)
  return `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}] ${counters(r)}`
}

function counters(r: PushRunReport): string {
  return `${r.windowsDone ?? 0}/${r.windows.length} windows · ${r.pushed} pushed · ${r.pending} pending · ${r.failed} failed`
}

export function summaryLine(r: PushRunReport): string {
  const seconds = (r.durationMs / 1000).toFixed(1)
  return (
    `Backfill ${r.id} ${r.status} in ${seconds} s: ${r.windows.length} windows, ${r.calls} calls, ` +
    `${r.legs} legs (${r.matched} matched), ${r.pushed} pushed, ${r.alreadyPushed} already pushed, ` +
    `${r.pending} pending, ${r.failed} failed${r.error === null ? '' : `; error: ${r.error}`}`
  )
}

async function call(opts: BackfillOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  let res: Response
  try {
    res = await fetch(new URL(path, opts.url), {
      method,
      headers: { authorization: `Bearer ${opts.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000)
    })
  } catch (err) {
    const why = (err as { cause?: { code?: string; message?: string } }).cause
    const cause = why?.code ?? why?.message ?? (err as Error).message
    throw new BackfillError(`no answer from the gateway at ${opts.url} (${cause})`, 'is it running? Run this where the gateway runs, or give its address with --url')
  }
  const text = await res.text()
  let json: unknown = null
  try {
    json = JSON.parse(text)
  } catch {
    // reported with the status below
  }
  return { status: res.status, json }
}

function refusal(status: number, body: unknown): BackfillError {
  const b = (body ?? {}) as ErrorBody
  const said = `${status}${b.code ? ` ${b.code}` : ''}: ${b.message ?? 'no message'}`
  switch (status) {
    case 401:
      return new BackfillError(`the gateway refused the admin token (${said})`, 'use the ADMIN_TOKEN the gateway runs with')
    case 404:
      return new BackfillError(`the gateway has no admin routes (${said})`, 'start the gateway with ADMIN_TOKEN set')
    case 409:
      return new BackfillError(`the gateway cannot start a backfill now (${said})`, 'wait for the run under way to end; with several instances, run it on the one holding the push lock')
    case 400:
      return new BackfillError(`the gateway refused the period (${said})`, 'give --from before --to as ISO 8601 date-times, at most 10000 windows of PUSH_MAX_WINDOW_S apart')
    default:
      return new BackfillError(`the gateway answered ${said}`, status >= 500 ? 'retry later; see the gateway\'s log' : 'see the gateway\'s log')
  }
}

/** Starts the backfill, shows its progress until it ends, and returns its final report. */
export async function runBackfill(opts: BackfillOptions): Promise<PushRunReport> {
  const started = await call(opts, 'POST', '/admin/push-runs', { start: opts.from, end: opts.to })
  if (started.status !== 202) throw refusal(started.status, started.json)
  const id = (started.json as { id: string }).id
  opts.write(`Backfill ${id} started on ${opts.url}: ${opts.from} .. ${opts.to}\n`)

  const pollMs = opts.pollMs ?? 500
  let last: PushRunReport | null = null
  let shown = ''
  for (;;) {
    const latest = await call(opts, 'GET', '/admin/push-runs/latest')
    if (latest.status !== 200) throw refusal(latest.status, latest.json)
    const report = latest.json as PushRunReport
    if (report.id !== id) {
      // Another run began right after ours ended, and the gateway now reports that one.
      if (last === null) throw new BackfillError(`the gateway reports run ${report.id}, not ${id}`, 'see the gateway\'s log for the backfill')
      if (opts.tty) opts.write('\n')
      opts.write(`(run ${report.id} started after the backfill; the counters above are the last seen)\n`)
      return last
    }
    last = report
    const text = opts.tty ? progressLine(report) : `backfill ${id}: ${counters(report)}`
    if (text !== shown) {
      opts.write(opts.tty ? `\r\x1b[2K${text}` : `${text}\n`)
      shown = text
    }
    if (report.status !== 'running') {
      if (opts.tty) opts.write('\n')
      return report
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}
