// The contract suite on a client of another process: a child process owns the folder, and
// every database the tests open is a client of it.
import t from 'tap'
import { clientBackend as backend } from './helpers/backends.js'
import { aggregateContract } from './contract/aggregates.js'
import { appendContract } from './contract/append.js'
import { idempotencyContract } from './contract/idempotency.js'
import { readContract } from './contract/read.js'
import { privacyContract } from './contract/privacy.js'
import { subscriptionContract } from './contract/subscriptions.js'
import { projectionContract } from './contract/projections.js'
import { projectionLifecycleContract } from './contract/projections-lifecycle.js'

t.test('append', async t => { appendContract(t, backend) })
t.test('read', async t => { readContract(t, backend) })
t.test('idempotency', async t => { idempotencyContract(t, backend) })
t.test('subscriptions', async t => { subscriptionContract(t, backend) })
t.test('privacy', async t => { privacyContract(t, backend) })
t.test('aggregates', async t => { aggregateContract(t, backend) })
t.test('projections', async t => { projectionContract(t, backend) })
t.test('projections: lifecycle', async t => { projectionLifecycleContract(t, backend) })
