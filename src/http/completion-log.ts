/*
 * Fastify writes 'incoming request' and 'request completed' for every request. A route that writes its
 * own closing line with more to say (the recordings route: leg, range, bytes, duration) marks the
 * request here, and Fastify's 'request completed' is left out for it (see RouteAwareLogController in
 * src/app.ts): one line fewer per recording request, with nothing lost. A request refused before the
 * route ran (signature, rate limit) is not marked and keeps Fastify's line.
 */

const marked = new WeakSet<object>()

/** The route logs this request's outcome itself, from now on. */
export function markCompletionLogged(request: object): void {
  marked.add(request)
}

/** True once the route has taken over the closing line of this request. */
export function completionLoggedByRoute(request: object): boolean {
  return marked.has(request)
}
