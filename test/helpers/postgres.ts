// The throw-away PostgreSQL lives beside the simulators, where the demo can use it too.
export * from '../../simulators/postgres.js'
