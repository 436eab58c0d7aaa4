import type { Dispatcher } from 'undici'
import { CxAuthError } from '../errors.js'
import { cxRequest, excerpt } from './http.js'
import { raceAbort } from '../race-abort.js'

/** Where the bearer token for CX comes from. */
export interface TokenSource {
  get(signal?: AbortSignal): Promise<string>
  /** Called after CX answered 401 with this token; returns true when asking again may help. */
  invalidate(token: string): boolean
}

/** CX_API_TOKEN: sent as is; a 401 cannot be cured by asking again. */
export function staticToken(token: string): TokenSource {
  return {
    get: async () => token,
    invalidate: () => false
  }
}

export interface KeycloakOptions {
  readonly tokenUrl: string
  readonly clientId: string
  readonly clientSecret: string | null
  readonly username: string
  readonly password: string
  readonly timeoutMs: number
  readonly dispatcher: Dispatcher
  readonly now?: () => number
}

/** A token answer is a JWT or two and some numbers: a few KiB. */
const MAX_TOKEN_BODY_BYTES = 1024 * 1024

interface CachedToken {
  readonly value: string
  /** Epoch ms after which we fetch a new one (shortly before the real expiry). */
  readonly refreshAt: number
}

/**
 * OAuth2 password grant against Keycloak. The token is cached until shortly before it expires so a run
 * of thousands of pushes costs one token request; concurrent callers share one fetch.
 */
export class KeycloakTokenSource implements TokenSource {
  readonly #opts: KeycloakOptions
  readonly #now: () => number
  #cached: CachedToken | null = null
  #inflight: Promise<CachedToken> | null = null

  constructor(opts: KeycloakOptions) {
    this.#opts = opts
    this.#now = opts.now ?? Date.now
  }

  async get(signal?: AbortSignal): Promise<string> {
    const cached = this.#cached
    if (cached && this.#now() < cached.refreshAt) return cached.value
    // A shared fetch is not tied to one caller's signal: another caller may still want the token.
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = null
    })
    const token = signal ? await raceAbort(this.#inflight, signal) : await this.#inflight
    return token.value
  }

  invalidate(token: string): boolean {
    if (this.#cached?.value === token) this.#cached = null
    return true
  }

  async #fetch(): Promise<CachedToken> {
    const o = this.#opts
    const form = new URLSearchParams({ grant_type: 'password', client_id: o.clientId, username: o.username, password: o.password })
    if (o.clientSecret !== null) form.set('client_secret', o.clientSecret)
    const started = this.#now()
    let res
    try {
      res = await cxRequest(o.dispatcher, {
        method: 'POST',
        url: o.tokenUrl,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        timeoutMs: o.timeoutMs,
        maxBytes: MAX_TOKEN_BODY_BYTES
      })
    } catch (err) {
      throw new CxAuthError(`token endpoint: ${(err as Error).message}`)
    }
    if (res.status !== 200) {
      // Keycloak explains itself in `error` / `error_description`; neither echoes the credentials.
      throw new CxAuthError(`token endpoint answered ${res.status}: ${keycloakReason(res.text)}`)
    }
    let body: unknown
    try {
      body = JSON.parse(res.text)
    } catch {
      throw new CxAuthError('token endpoint answered with something other than JSON')
    }
    const { access_token: value, expires_in: expiresIn } = (body ?? {}) as { access_token?: unknown; expires_in?: unknown }
    if (typeof value !== 'string' || value === '') throw new CxAuthError('token endpoint answered without access_token')
    const lifetimeMs = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn * 1000 : 60_000
    // Refresh a little early so a token does not expire between our check and CX's.
    const margin = Math.min(30_000, lifetimeMs / 5)
    const token = { value, refreshAt: started + lifetimeMs - margin }
    this.#cached = token
    return token
  }
}

function keycloakReason(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; error_description?: unknown }
    const parts = [body.error, body.error_description].filter((p): p is string => typeof p === 'string')
    if (parts.length > 0) return excerpt(parts.join(': '), 200)
  } catch {
    // not JSON: fall through
  }
  return excerpt(text, 200)
}
