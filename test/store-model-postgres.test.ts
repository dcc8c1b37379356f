// The model test of the whole store (test/helpers/store-model.ts) on PostgreSQL: a schema per run
// on this file's server (test/helpers/postgres.ts), reopens and shreds included; skipped with the
// reason where there is no server. MODEL_RUNS=<n> runs more (or fewer) random sequences.
import t from 'tap'
import { postgresServer, stopPostgres } from './helpers/backends.js'
import { storeModelTest } from './helpers/store-model.js'

const server = await postgresServer()
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
storeModelTest(t, 'postgres', Number(process.env.MODEL_RUNS ?? 30), 40, server.skip ?? false)
