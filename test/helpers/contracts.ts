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

/** Runs one half of the contract suite on the backend named `name`; `skip` (a reason) skips every part. */
export function runContracts (name: string, half: 'log' | 'built', skip: string | false = false): void {
  const backend = [...backends, clientBackend].find(b => b.name === name)
  if (backend === undefined) throw new Error(`no backend named ${name}`)
  if (half === 'log') {
    t.test('append', { skip }, async t => { appendContract(t, backend) })
    t.test('read', { skip }, async t => { readContract(t, backend) })
    t.test('idempotency', { skip }, async t => { idempotencyContract(t, backend) })
    t.test('subscriptions', { skip }, async t => { subscriptionContract(t, backend) })
    t.test('privacy', { skip }, async t => { privacyContract(t, backend) })
  } else {
    t.test('aggregates', { skip }, async t => { aggregateContract(t, backend) })
    t.test('projections', { skip }, async t => { projectionContract(t, backend) })
    t.test('projections: lifecycle', { skip }, async t => { projectionLifecycleContract(t, backend) })
    t.test('consistency', { skip }, async t => { consistencyContract(t, backend) })
    t.test('lifecycle', { skip }, async t => { lifecycleContract(t, backend) })
    t.test('upcasting', { skip }, async t => { upcastContract(t, backend) })
  }
}
