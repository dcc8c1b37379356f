// The contract suite, in two halves so that each file of a backend stays well inside tap's
// timeout on a busy machine: the log (appends, reads, retries, subscriptions, personal data),
// and what is built on it (aggregates, projections, consistency, streams' lives, upcasting).
import t from 'tap'
import { backends, clientBackend } from './backends.js'
import { aggregateContract } from '../contract/aggregates.js'
import { appendContract } from '../contract/append.js'
import { idempotencyContract } from '../contract/idempotency.js'
import { readContract } from '../contract/read.js'
import { privacyContract } from '../contract/privacy.js'
import { subscriptionContract } from '../contract/subscriptions.js'
import { projectionContract } from '../contract/projections.js'
import { projectionLifecycleContract } from '../contract/projections-lifecycle.js'
import { consistencyContract } from '../contract/consistency.js'
import { lifecycleContract } from '../contract/lifecycle.js'
import { upcastContract } from '../contract/upcast.js'

/** Runs one half of the contract suite on the backend named `name`. */
export function runContracts (name: string, half: 'log' | 'built'): void {
  const backend = [...backends, clientBackend].find(b => b.name === name)
  if (backend === undefined) throw new Error(`no backend named ${name}`)
  if (half === 'log') {
    t.test('append', async t => { appendContract(t, backend) })
    t.test('read', async t => { readContract(t, backend) })
    t.test('idempotency', async t => { idempotencyContract(t, backend) })
    t.test('subscriptions', async t => { subscriptionContract(t, backend) })
    t.test('privacy', async t => { privacyContract(t, backend) })
  } else {
    t.test('aggregates', async t => { aggregateContract(t, backend) })
    t.test('projections', async t => { projectionContract(t, backend) })
    t.test('projections: lifecycle', async t => { projectionLifecycleContract(t, backend) })
    t.test('consistency', async t => { consistencyContract(t, backend) })
    t.test('lifecycle', async t => { lifecycleContract(t, backend) })
    t.test('upcasting', async t => { upcastContract(t, backend) })
  }
}
