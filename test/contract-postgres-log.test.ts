// The contract suite's first half (the log) on PostgreSQL: a schema per fixture, on this
// file's server (see test/helpers/postgres.ts); skipped with the reason where there is no server.
import t from 'tap'
import { postgresServer, stopPostgres } from './helpers/backends.js'
import { runContracts } from './helpers/contracts.js'

const server = await postgresServer()
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
runContracts('postgres', 'log', server.skip ?? false)
