// Conditions searched early (src/backend/level/early-conditions.ts): the search begun when an
// append is queued is trusted only where nothing since can have changed its answer; the events
// committed since it began are checked from memory; in every other case the log is searched
// again when the batch is built. The consistency model test checks the whole; this checks each
// case where the early answer must not be used (and the contract suite, test/contract/consistency.ts,
// a deletion and a condition in one batch).
import t from 'tap'
import { EarlyConditions } from '../src/backend/level/early-conditions.js'
import type { AppendCondition } from '../src/backend/backend.js'
import type { Rules } from '../src/backend/rules.js'

const claim: AppendCondition = { failIfEventsMatch: [{ types: ['Claimed'], tags: ['photo:1'] }], after: undefined }
const meta = (type: string, ...tags: string[]): { type: string, tags: string[] } => ({ type, tags })

/** A finder that answers `answer` and records the heads it searched up to. */
function finder (answer: () => Promise<number | undefined>): { heads: number[], find: (c: AppendCondition, head: number) => Promise<number | undefined> } {
  const heads: number[] = []
  return { heads, find: async (_c, head) => { heads.push(head); return await answer() } }
}

const rules = (any: boolean): Rules => ({ any }) as unknown as Rules

t.test('the events committed since the early search are checked from memory', async t => {
  const f = finder(async () => undefined)
  const early = new EarlyConditions(f.find, rules(false), 9)
  const check = early.start(claim, 9)
  early.written(10, [meta('Other', 'photo:1'), meta('Claimed', 'photo:2')], false)
  t.equal(await early.conflict(claim, check, 11), undefined, 'nothing matching since')
  early.written(12, [meta('Claimed', 'photo:1')], false)
  t.equal(await early.conflict(claim, check, 12), 12, 'the event committed since is the conflict')
  t.equal(await early.conflict({ ...claim, after: 12 }, early.start({ ...claim, after: 12 }, 12), 12), undefined, 'past `after` only')
  t.same(f.heads, [9, 12], 'the log was searched only when each append was queued')
})

t.test('the early answer found on disk is the conflict', async t => {
  const f = finder(async () => 4)
  const early = new EarlyConditions(f.find, rules(false), 9)
  const check = early.start(claim, 9)
  early.written(10, [meta('Claimed', 'photo:1')], false)
  t.equal(await early.conflict(claim, check, 10), 4)
})

t.test('the log is searched again when the early answer cannot be trusted', async t => {
  await t.test('a rule changed since', async t => {
    const f = finder(async () => undefined)
    const early = new EarlyConditions(f.find, rules(false), 9)
    const check = early.start(claim, 9)
    early.written(10, [meta('$StreamDeleted')], true)
    await early.conflict(claim, check, 10)
    t.same(f.heads, [9, 10])
  })
  await t.test('rules may hide events', async t => {
    const f = finder(async () => undefined)
    const hiding = { any: false }
    const early = new EarlyConditions(f.find, hiding as unknown as Rules, 9)
    const check = early.start(claim, 9)
    hiding.any = true
    await early.conflict(claim, check, 9)
    t.same(f.heads, [9, 9], 'searched again')
    t.equal(early.start(claim, 9), undefined, 'and no search begins early while they may')
  })
  await t.test('the early search failed', async t => {
    let calls = 0
    const f = finder(async () => { if (calls++ === 0) throw new Error('the disk hiccuped'); return 3 })
    const early = new EarlyConditions(f.find, rules(false), 9)
    const check = early.start(claim, 9)
    t.equal(await early.conflict(claim, check, 9), 3)
  })
  await t.test('the batches since are no longer all in memory', async t => {
    const f = finder(async () => undefined)
    const early = new EarlyConditions(f.find, rules(false), 0)
    const check = early.start(claim, 0)
    const many = Array.from({ length: 70_000 }, () => meta('Other'))
    early.written(1, many, false)
    early.written(70_001, many, false)
    await early.conflict(claim, check, 140_000)
    t.same(f.heads, [0, 140_000])
  })
  await t.test('the log was replaced', async t => {
    const f = finder(async () => undefined)
    const early = new EarlyConditions(f.find, rules(false), 9)
    const check = early.start(claim, 9)
    early.reset(50)
    await early.conflict(claim, check, 50)
    t.same(f.heads, [9, 50])
  })
})
