'use strict'
// What the gateway imports from undici (Agent, Pool and their request API), for the production bundle
// only: scripts/bundle.mjs points `undici` here. undici's index also loads fetch, WebSocket,
// EventSource, the HTTP cache and the mock agents, and through them Node's web streams, Blob and
// MessagePort: start-up time for code the gateway never runs. The sources and the tests use the
// package itself; test/bundle.test.ts checks the bundle serves the same bytes.
const Agent = require('undici/lib/dispatcher/agent.js')
const Pool = require('undici/lib/dispatcher/pool.js')
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js')
const api = require('undici/lib/api/index.js')

// As undici's index does: request(), stream() ... on every dispatcher.
Object.assign(Dispatcher.prototype, api)

module.exports = { Agent, Pool, Dispatcher }
