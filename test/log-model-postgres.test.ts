// The log's model test (test/helpers/log-model.ts) on PostgreSQL: a schema per run on this
// file's server (test/helpers/postgres.ts), reopens included; skipped with the reason where there
// is no server. Each run makes a schema, so fewer runs than on a level; MODEL_RUNS=<n> for more.
import t from 'tap'
import { postgresServer, stopPostgres } from './helpers/backends.js'
import { logModel } from './helpers/log-model.js'

const server = await postgresServer()
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
logModel('postgres', { numRuns: Number(process.env.MODEL_RUNS ?? 40), skip: server.skip ?? false })
