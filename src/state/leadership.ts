/**
 * Who may run the push job. One instance with the file store is always the leader; the PostgreSQL
 * store answers with an advisory lock. The lease's signal aborts when leadership is lost mid-run (the
 * lock's connection died): the job then stops before its next message.
 */
export interface Lease {
  readonly signal: AbortSignal
  release(): Promise<void>
}

export interface Leadership {
  /** A lease for one run, or null when another instance leads. */
  acquire(): Promise<Lease | null>
}

export const soleInstance: Leadership = {
  acquire: async () => ({ signal: new AbortController().signal, release: async () => undefined })
}
