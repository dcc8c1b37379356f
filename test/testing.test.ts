// `annals/testing`: given events, when a decision, then events, a state, or an error. Each
// assertion passes when it should and fails when it should.
import { AssertionError } from 'node:assert'
import t from 'tap'
import { defineAggregate, open, type NewEvent } from '../src/index.js'
import { given } from '../src/testing.js'
import { MemoryLevel } from 'memory-level'

interface Account { balance: number, log: string[] }
const Account = defineAggregate({
  name: 'account',
  initial: (): Account => ({ balance: 0, log: [] }),
  evolve: (s: Account, e): Account => ({ balance: s.balance + (e.type === 'Withdrawn' ? -e.data.amount : e.data.amount), log: [...s.log, `${e.revision}:${e.type}`] })
})
function withdraw (state: Account, amount: number): NewEvent {
  if (state.balance < amount) throw Object.assign(new Error('insufficient funds'), { code: 'FUNDS' })
  return { type: 'Withdrawn', data: { amount } }
}
const history = [{ type: 'Deposited', data: { amount: 10 } }, { type: 'Deposited', data: { amount: 5 } }]

t.test('the given state is what db.load gives for the same events', async t => {
  const level = new MemoryLevel()
  const db = await open({ level })
  t.teardown(async () => { await db.close(); await level.close() })
  await db.append('a', history)
  t.same(given(Account, history).state, (await db.load(Account, 'a')).state)
  given(Account, history).thenState({ balance: 15, log: ['0:Deposited', '1:Deposited'] })
  t.throws(() => { given(Account, history).thenState({ balance: 16, log: ['0:Deposited', '1:Deposited'] }) }, AssertionError)
})

t.test('when a decision, then its events and the state after them', async t => {
  given(Account, history).when(s => withdraw(s, 15)).thenEvents([{ type: 'Withdrawn', data: { amount: 15 } }])
  given(Account, history).when(s => [withdraw(s, 5), withdraw(s, 5)]).thenState({ balance: 5, log: ['0:Deposited', '1:Deposited', '2:Withdrawn', '3:Withdrawn'] })
  t.throws(() => { given(Account, history).when(s => withdraw(s, 15)).thenEvents([{ type: 'Withdrawn', data: { amount: 14 } }]) }, AssertionError)
  t.throws(() => { given(Account, history).when(s => withdraw(s, 15)).thenEvents([]) }, AssertionError)
  t.throws(() => { given(Account, history).when(s => withdraw(s, 15)).thenState({ balance: 1, log: [] }) }, AssertionError)
  t.throws(() => { given(Account, history).when(s => withdraw(s, 15)).thenThrows() }, /did not throw/)
})

t.test('when a decision throws, then the error', async t => {
  given(Account, history).when(s => withdraw(s, 20)).thenThrows()
  given(Account, history).when(s => withdraw(s, 20)).thenThrows(/insufficient/)
  given(Account, history).when(s => withdraw(s, 20)).thenThrows({ code: 'FUNDS' })
  t.throws(() => { given(Account, history).when(s => withdraw(s, 20)).thenThrows(/overdrawn/) }, /does not match/)
  t.throws(() => { given(Account, history).when(s => withdraw(s, 20)).thenThrows({ code: 'OTHER' }) }, AssertionError)
  t.throws(() => { given(Account, history).when(s => withdraw(s, 20)).thenEvents([]) }, /threw instead of deciding/)
})

t.test('given events are checked as an append checks them', async t => {
  t.throws(() => given(Account, [{ type: '' }]), { code: 'ANNALS_INVALID_EVENT' })
  t.throws(() => given(Account, [{ type: 'Deposited', data: { f: () => 1 } }]), { code: 'ANNALS_INVALID_EVENT' }, 'data that cannot be stored')
  t.throws(() => given(Account, [{ type: 'Deposited', data: { amount: 1 }, metadata: { s: Symbol('s') } }]), { code: 'ANNALS_INVALID_EVENT' }, 'metadata that cannot be stored')
  t.throws(() => given(Account, history).when(() => ({ type: 'Deposited', data: { f: () => 1 } })), { code: 'ANNALS_INVALID_EVENT' }, 'nor can decided events')
})

t.test('the fold fails as db.load fails: ANNALS_AGGREGATE_FAILED, never the decision\'s error', async t => {
  const boom = new Error('boom')
  const Fragile = defineAggregate({ name: 'fragile', initial: () => 0, evolve: (n: number, e) => { if (e.type === 'Bad') throw boom; return n + 1 } })
  const Async = defineAggregate({ name: 'async', initial: () => 0, evolve: async (n: number) => n + 1 } as never)
  const Broken = defineAggregate({ name: 'broken', initial: () => { throw boom }, evolve: (n: number) => n })
  const level = new MemoryLevel()
  const db = await open({ level })
  t.teardown(async () => { await db.close(); await level.close() })
  await db.append('s', [{ type: 'Good' }, { type: 'Bad' }])
  for (const [what, aggregate, events] of [
    ['evolve throws', Fragile, [{ type: 'Good' }, { type: 'Bad' }]],
    ['evolve returns a promise', Async, [{ type: 'Good' }]],
    ['initial throws', Broken, []]
  ] as const) {
    const code = { code: 'ANNALS_AGGREGATE_FAILED' }
    await t.rejects(db.load(aggregate as never, 's'), code, `${what}: load`)
    t.throws(() => given(aggregate as never, events), code, `${what}: given`)
  }
  t.throws(() => given(Fragile, [{ type: 'Bad' }]), { code: 'ANNALS_AGGREGATE_FAILED', cause: boom })
  // a fold that fails before the decision is not the decision throwing
  t.throws(() => given(Fragile, [{ type: 'Good' }]).when(() => ({ type: 'Bad' })).thenState(2), { code: 'ANNALS_AGGREGATE_FAILED' }, 'decided events folded')
  given(Fragile, [{ type: 'Good' }]).when(() => ({ type: 'Bad' })).thenEvents([{ type: 'Bad' }])
})
