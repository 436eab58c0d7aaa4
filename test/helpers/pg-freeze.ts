/*
 * A hung database host, not a closed port: every process of a test PostgreSQL server stopped with
 * SIGSTOP. Connections stay open and TCP still accepts, but nothing answers, so server-side timeouts
 * (statement_timeout) never fire. Only servers the tests started themselves are frozen, by pid.
 */
import { readdirSync, readFileSync } from 'node:fs'
import type postgres from 'postgres'

function parentOf(pid: number): number | null {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return null
  }
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((child) => parentOf(child) === pid)
}

/**
 * Stops the postmaster of the server `sql` is connected to, then every process it forked (backends,
 * checkpointer, walwriter…). Returns `thaw`, which continues them all; it also runs when this process
 * exits, so a failing test never leaves a frozen server behind (its own clean-up could not stop it).
 */
export async function freezePostgres(sql: postgres.Sql): Promise<() => void> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`
  const postmaster = parentOf(row!.pid)
  if (postmaster === null) throw new Error(`cannot find the postmaster of backend ${row!.pid}`)
  // The postmaster first: once it is stopped it forks no new process that the list below would miss.
  const frozen = [postmaster]
  process.kill(postmaster, 'SIGSTOP')
  for (const child of childrenOf(postmaster)) {
    process.kill(child, 'SIGSTOP')
    frozen.push(child)
  }
  let thawed = false
  const thaw = (): void => {
    if (thawed) return
    thawed = true
    process.removeListener('exit', thaw)
    for (const pid of frozen.reverse()) {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {
        // Already gone: nothing to continue.
      }
    }
  }
  process.once('exit', thaw)
  return thaw
}
