// The contract suite on PostgreSQL: a schema per fixture, on this file's server (see
// test/helpers/postgres.ts); skipped with the reason where there is no server.
import t from 'tap'
import { backends, postgresServer, stopPostgres } from './helpers/backends.js'
import { aggregateContract } from './contract/aggregates.js'
import { appendContract } from './contract/append.js'
import { idempotencyContract } from './contract/idempotency.js'
import { readContract } from './contract/read.js'
import { privacyContract } from './contract/privacy.js'
import { subscriptionContract } from './contract/subscriptions.js'
import { projectionContract } from './contract/projections.js'
import { projectionLifecycleContract } from './contract/projections-lifecycle.js'
import { consistencyContract } from './contract/consistency.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)

const backend = backends.find(b => b.name === 'postgres')!
t.test('append', { skip }, async t => { appendContract(t, backend) })
t.test('read', { skip }, async t => { readContract(t, backend) })
t.test('idempotency', { skip }, async t => { idempotencyContract(t, backend) })
t.test('subscriptions', { skip }, async t => { subscriptionContract(t, backend) })
t.test('privacy', { skip }, async t => { privacyContract(t, backend) })
t.test('aggregates', { skip }, async t => { aggregateContract(t, backend) })
t.test('projections', { skip }, async t => { projectionContract(t, backend) })
t.test('projections: lifecycle', { skip }, async t => { projectionLifecycleContract(t, backend) })
t.test('consistency', { skip }, async t => { consistencyContract(t, backend) })
