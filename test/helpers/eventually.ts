/**
 * Waits for something another party does in its own time (a request reaching a simulator, a socket seen
 * closed, a log line written): polls every 20 ms until `done()` holds or `ms` have passed, and says which.
 * The bound only turns a hang into a failure, so it is generous: on a loaded machine the other side can be
 * seconds late. Callers assert on the state afterwards; no test asserts on how long it took.
 */
export async function eventually(done: () => boolean | Promise<boolean>, ms = 30_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!(await done())) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}
