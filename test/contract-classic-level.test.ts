// The contract suite on classic-level.
import t from 'tap'
import { backends } from './helpers/backends.js'
import { aggregateContract } from './contract/aggregates.js'
import { appendContract } from './contract/append.js'
import { idempotencyContract } from './contract/idempotency.js'
import { readContract } from './contract/read.js'
import { privacyContract } from './contract/privacy.js'
import { subscriptionContract } from './contract/subscriptions.js'
import { projectionContract } from './contract/projections.js'
import { projectionLifecycleContract } from './contract/projections-lifecycle.js'
import { consistencyContract } from './contract/consistency.js'
import { upcastContract } from './contract/upcast.js'

const backend = backends.find(b => b.name === 'classic-level')!
t.test('append', async t => { appendContract(t, backend) })
t.test('read', async t => { readContract(t, backend) })
t.test('idempotency', async t => { idempotencyContract(t, backend) })
t.test('subscriptions', async t => { subscriptionContract(t, backend) })
t.test('privacy', async t => { privacyContract(t, backend) })
t.test('aggregates', async t => { aggregateContract(t, backend) })
t.test('projections', async t => { projectionContract(t, backend) })
t.test('projections: lifecycle', async t => { projectionLifecycleContract(t, backend) })
t.test('consistency', async t => { consistencyContract(t, backend) })
t.test('upcasting', async t => { upcastContract(t, backend) })
