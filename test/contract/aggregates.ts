// Contract: aggregates. Loads now and at every revision, position and time equal the fold of
// the events from scratch; snapshots are written by loads, used by later ones, ignored when
// made by another version or other code, pruned on demand; unstorable states are reported
// once; bad input is refused.
import type { Test } from 'tap'
import { defineAggregate, type Aggregate, type Annals, type RecordedEvent } from '../../src/index.js'
import { collect, type Backend } from '../helpers/backends.js'

/** The state after the events of `stream` at or before revision `revision`, folded from scratch. */
function fold<S> (aggregate: Aggregate<S>, events: RecordedEvent[], stream: string, keep: (e: RecordedEvent) => boolean): { state: S, revision: number, position: number } {
  let state = aggregate.initial()
  let revision = -1
  let position = -1
  for (const e of events) {
    if (e.stream !== stream || !keep(e)) continue
    state = aggregate.evolve(state, e)
    revision = e.revision
    position = e.position
  }
  return { state, revision, position }
}

/** Appends with a clock of our own, so that commit times differ (or not) as the test says. */
async function withClock<T> (fn: (tick: (ms: number) => void) => Promise<T>): Promise<T> {
  const realNow = Date.now
  let clock = 1_700_000_000_000
  Date.now = () => clock
  try {
    return await fn(ms => { clock += ms })
  } finally {
    Date.now = realNow
  }
}

let evolved = 0
// order-sensitive, so that a wrong or missing event shows
const Trail = defineAggregate({
  name: 'trail',
  initial: () => ({ count: 0, sum: 0, trail: '' }),
  evolve: (s, e) => { evolved++; return { count: s.count + 1, sum: (s.sum * 31 + e.data.n) % 1_000_003, trail: (s.trail + e.type[0]).slice(-8) } },
  snapshotEvery: 10
})

async function fill (db: Annals, tick: (ms: number) => void): Promise<void> {
  let n = 0
  for (let i = 0; i < 12; i++) {
    tick(i % 3 === 0 ? 0 : 5) // some batches share a commit time
    await Promise.all([
      db.append('s', Array.from({ length: 1 + i % 4 }, () => ({ type: n % 2 === 0 ? 'Even' : 'Odd', data: { n: n++ } }))),
      db.append(`o${i % 3}`, { type: 'Other', data: { n: n++ } })
    ])
  }
}

/** Loads after a reopen, so that snapshots queued by earlier loads are written. */
async function reopen (db: Annals, open: () => Promise<Annals>): Promise<Annals> {
  await db.close()
  return await open()
}

export function aggregateContract (t: Test, backend: Backend): void {
  t.test('a missing stream gives the initial state, revision -1 and position -1', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const empty = { state: { count: 0, sum: 0, trail: '' }, revision: -1, position: -1 }
    t.same(await db.load(Trail, 'nothing'), empty)
    await db.append('other', { type: 'Odd', data: { n: 1 } })
    for (const at of [{ revision: 5 }, { revision: -1 }, { position: 0 }, { position: 100 }, { time: Date.now() + 1000 }, { time: new Date(0) }]) {
      t.same(await db.load(Trail, 'nothing', { at }), empty, JSON.stringify(at))
    }
    await db.close()
  })

  t.test('load equals the fold from scratch, now and at every revision, position and time', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await withClock(async tick => { await fill(db, tick) })
    const NoSnapshots = defineAggregate({ ...Trail, name: 'trail-plain', snapshotEvery: undefined })
    for (const round of ['first loads', 'with snapshots written', 'reopened']) {
      const events = await collect(db.readAll())
      const last = events.filter(e => e.stream === 's').at(-1)!
      for (const aggregate of [Trail, NoSnapshots]) {
        const name = `${aggregate.name}, ${round}`
        t.same(await db.load(aggregate, 's'), fold(aggregate, events, 's', () => true), `${name}: now`)
        for (let revision = -1; revision <= last.revision + 2; revision++) {
          t.same(await db.load(aggregate, 's', { at: { revision } }), fold(aggregate, events, 's', e => e.revision <= revision), `${name}: revision ${revision}`)
        }
        t.same(await db.load(aggregate, 's', { at: { revision: Infinity } }), fold(aggregate, events, 's', () => true), `${name}: revision Infinity`)
        for (let position = -1; position <= events.length + 1; position++) {
          t.same(await db.load(aggregate, 's', { at: { position } }), fold(aggregate, events, 's', e => e.position <= position), `${name}: position ${position}`)
        }
        for (const time of new Set(events.flatMap(e => [e.time - 1, e.time, e.time + 1]))) {
          const want = fold(aggregate, events, 's', e => e.time <= time)
          t.same(await db.load(aggregate, 's', { at: { time } }), want, `${name}: time ${time}`)
          t.same(await db.load(aggregate, 's', { at: { time: new Date(time) } }), want, `${name}: Date ${time}`)
        }
      }
      if (round === 'with snapshots written') db = await reopen(db, f.open)
      else await db.append('s', { type: 'Late', data: { n: 99 } })
    }
    await db.close()
  })

  t.test('loads write snapshots in the background, and later loads fold only the events after them', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    for (let i = 0; i < 25; i++) await db.append('s', { type: 'Even', data: { n: i } })
    db = await reopen(db, f.open)
    evolved = 0
    const now = await db.load(Trail, 's')
    t.equal(evolved, 25, 'appends wrote no snapshot: the first load folds everything')
    db = await reopen(db, f.open)
    evolved = 0
    t.same(await db.load(Trail, 's'), now)
    t.equal(evolved, 5, 'from the snapshot at revision 19')
    evolved = 0
    t.equal((await db.load(Trail, 's', { at: { revision: 12 } })).revision, 12)
    t.equal(evolved, 3, 'time travel starts from the snapshot at revision 9')
    evolved = 0
    t.equal((await db.load(Trail, 's', { at: { revision: 9 } })).state.count, 10)
    t.equal(evolved, 0, 'a snapshot at the target itself')
    evolved = 0
    await db.load(Trail, 's', { at: { revision: 5 } })
    t.equal(evolved, 6, 'before the first snapshot: from scratch')
    await db.close()
  })

  t.test('snapshots of another version or other code are ignored; an identical definition uses them', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    for (let i = 0; i < 30; i++) await db.append('s', { type: i % 3 === 0 ? 'Odd' : 'Even', data: { n: i } })
    const want = await db.load(Trail, 's')
    db = await reopen(db, f.open)

    const Same = defineAggregate({ ...Trail })
    evolved = 0
    t.same(await db.load(Same, 's'), want)
    t.equal(evolved, 0, 'same name, version and code: the snapshot at 29 serves')

    const NewVersion = defineAggregate({ ...Trail, version: 2 })
    evolved = 0
    t.same(await db.load(NewVersion, 's'), want)
    t.equal(evolved, 30, 'a new version folds from scratch')

    // evolve changed, version not bumped: the answer is the new code's, not the snapshot's
    const Changed = defineAggregate({
      ...Trail,
      evolve: (s: { count: number, sum: number, trail: string }, _e: RecordedEvent) => { evolved++; return { count: s.count + 2, sum: s.sum, trail: s.trail } }
    })
    t.not(Changed.fingerprint, Trail.fingerprint)
    evolved = 0
    t.same((await db.load(Changed, 's')).state, { count: 60, sum: 0, trail: '' })
    t.equal(evolved, 30, 'other code folds from scratch')
    db = await reopen(db, f.open)
    evolved = 0
    t.same(await db.load(Trail, 's'), want, 'the old definition still finds its own snapshots')
    t.equal(evolved, 0)
    await db.close()
  })

  t.test('pruneSnapshots keeps what the given aggregates use and deletes the rest', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    for (let i = 0; i < 40; i++) await db.append(i % 2 === 0 ? 'a' : 'b', { type: 'Even', data: { n: i } })
    const V2 = defineAggregate({ ...Trail, version: 2, snapshotEvery: 5 })
    const want = await db.load(Trail, 'a')
    await db.load(Trail, 'b')
    await db.load(V2, 'a')
    db = await reopen(db, f.open)
    t.equal(await db.pruneSnapshots([V2]), 4, 'the four of Trail (revision 9 and 19 of two streams)')
    t.equal(await db.pruneSnapshots([V2]), 0, 'pruning again deletes nothing')
    evolved = 0
    t.same(await db.load(Trail, 'a'), want)
    t.equal(evolved, 20, 'Trail folds from scratch')
    evolved = 0
    t.same(await db.load(V2, 'a'), want)
    t.equal(evolved, 0, 'V2 keeps its snapshots')
    db = await reopen(db, f.open)
    t.equal(await db.pruneSnapshots([]), 6, 'an empty list deletes every snapshot: V2 had 4, Trail wrote 2 again')
    evolved = 0
    t.same(await db.load(V2, 'a'), want, 'no answer changes')
    t.equal(evolved, 20)
    await t.rejects(db.pruneSnapshots(V2 as never), TypeError)
    await t.rejects(db.pruneSnapshots([{ ...V2 }] as never), TypeError)
    await db.close()
  })

  t.test('a state that cannot be stored is reported once, and loads go on without snapshots', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    for (let i = 0; i < 12; i++) await db.append('s', { type: 'Even', data: { n: i } })
    class Tally {
      n = 0
      add (): Tally { this.n++; return this }
    }
    const cyclic = (): object => { const o: Record<string, unknown> = {}; o.self = o; return o }
    const cases: Array<[string, Aggregate, (state: any) => unknown, RegExp]> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      ['a Map', defineAggregate({ name: 'map', initial: () => ({ seen: new Map<number, boolean>() }), evolve: (s, e) => { s.seen.set(e.revision, true); return s }, snapshotEvery: 5 }), s => s.seen.size, /state\.seen is an instance of Map/],
      ['a class instance with methods', defineAggregate({ name: 'class', initial: () => new Tally(), evolve: s => s.add(), snapshotEvery: 5 }), s => s.n, /state is an instance of Tally/],
      ['a function', defineAggregate({ name: 'fn', initial: () => ({ n: 0, f: () => 1 }), evolve: s => ({ ...s, n: s.n + 1 }), snapshotEvery: 5 }), s => s.n, /state\.f is a function/],
      ['a cycle', defineAggregate({ name: 'cycle', initial: () => ({ n: 0, c: cyclic() }), evolve: s => ({ ...s, n: s.n + 1 }), snapshotEvery: 5 }), s => s.n, /state\.c\.self refers back/]
    ]
    const warnings: Error[] = []
    const listener = (w: Error): void => { if ((w as { code?: string }).code === 'ANNALS_STATE_NOT_SNAPSHOTTABLE') warnings.push(w) }
    process.on('warning', listener)
    t.teardown(() => { process.off('warning', listener) })
    for (const [what, aggregate, measure, message] of cases) {
      warnings.length = 0
      t.equal(measure((await db.load(aggregate, 's')).state), 12, `${what}: the state is right`)
      t.equal(measure((await db.load(aggregate, 's', { at: { revision: 7 } })).state), 8)
      db = await reopen(db, f.open)
      t.equal(measure((await db.load(aggregate, 's')).state), 12, `${what}: and right again`)
      await new Promise(resolve => setImmediate(resolve))
      t.equal(warnings.length, 1, `${what}: reported once`)
      t.match(warnings[0]?.message, message)
      t.match(warnings[0]?.message, new RegExp(`Aggregate '${aggregate.name}'`))
    }
    db = await reopen(db, f.open)
    t.equal(await db.pruneSnapshots(cases.map(c => c[1])), 0, 'none of them wrote a snapshot')
    await db.close()
  })

  t.test('a state changed in place, by evolve or by the caller, changes no later answer', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    const InPlace = defineAggregate({
      name: 'in-place',
      initial: () => ({ ns: [] as number[] }),
      evolve: (s, e) => { s.ns.push(e.data.n); return s },
      snapshotEvery: 3
    })
    for (let i = 0; i < 10; i++) await db.append('s', { type: 'Even', data: { n: i } })
    const first = await db.load(InPlace, 's')
    t.same(first.state.ns, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    first.state.ns.push(100)
    db = await reopen(db, f.open)
    for (let revision = -1; revision < 10; revision++) {
      t.same((await db.load(InPlace, 's', { at: { revision } })).state.ns, Array.from({ length: revision + 1 }, (_, i) => i), `revision ${revision}`)
    }
    await db.close()
  })

  t.test('evolve or initial that throws, or returns a promise, is ANNALS_AGGREGATE_FAILED', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', [{ type: 'Even', data: { n: 1 } }, { type: 'Bad' }])
    const boom = new Error('boom')
    const Throws = defineAggregate({ name: 'throws', initial: () => 0, evolve: (s, e) => { if (e.type === 'Bad') throw boom; return s + 1 } })
    await t.rejects(db.load(Throws, 's'), { code: 'ANNALS_AGGREGATE_FAILED', cause: boom, message: /revision 1 \(Bad\)/ })
    t.same(await db.load(Throws, 's', { at: { revision: 0 } }), { state: 1, revision: 0, position: 0 })
    const Initial = defineAggregate({ name: 'initial', initial: () => { throw boom }, evolve: s => s })
    await t.rejects(db.load(Initial, 's'), { code: 'ANNALS_AGGREGATE_FAILED', cause: boom })
    const Async = defineAggregate({ name: 'async', initial: () => 0, evolve: async (s: number) => s + 1 } as never)
    await t.rejects(db.load(Async, 's'), { code: 'ANNALS_AGGREGATE_FAILED', message: /synchronous/ })
    await db.close()
  })

  t.test('bad input is refused, by rejecting, and writes nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    // long enough for a load of Trail to leave two snapshots
    await db.append('s', Array.from({ length: 25 }, (_, n) => ({ type: 'Even', data: { n } })))
    const load = (...args: unknown[]): Promise<unknown> => (db.load as (...a: unknown[]) => Promise<unknown>)(...args)
    for (const [what, args] of [
      ['no aggregate', [undefined, 's']],
      ['a look-alike', [{ ...Trail }, 's']],
      ['a stream that is not a string', [Trail, 7]],
      ['options that are not an object', [Trail, 's', 'now']],
      ['at that is not an object', [Trail, 's', { at: 3 }]],
      ['at with two keys', [Trail, 's', { at: { revision: 1, position: 1 } }]],
      ['at with an unknown key', [Trail, 's', { at: { version: 1 } }]],
      ['at.revision below -1', [Trail, 's', { at: { revision: -2 } }]],
      ['at.revision fractional', [Trail, 's', { at: { revision: 1.5 } }]],
      ['at.revision a string', [Trail, 's', { at: { revision: '1' } }]],
      ['at.position NaN', [Trail, 's', { at: { position: NaN } }]],
      ['at.time a string', [Trail, 's', { at: { time: '2026-01-01' } }]],
      ['at.time an invalid Date', [Trail, 's', { at: { time: new Date('nope') } }]],
      ['at.time infinite', [Trail, 's', { at: { time: Infinity } }]]
    ] as Array<[string, unknown[]]>) {
      let promise: Promise<unknown> | undefined
      t.doesNotThrow(() => { promise = load(...args) }, `${what}: rejects rather than throws`)
      await t.rejects(promise!, TypeError, what)
    }
    await t.rejects(db.load(Trail, ''), { code: 'ANNALS_INVALID_EVENT' })
    await t.rejects(db.load(Trail, 'a\u0000b'), { code: 'ANNALS_INVALID_EVENT' })
    // snapshots queued by a load are written by close at the latest
    db = await reopen(db, f.open)
    t.equal(await db.pruneSnapshots([]), 0, 'no snapshot was written')
    t.equal(await db.revision('s'), 24, 'nor any event')
    // where a load that is not refused leaves two
    await db.load(Trail, 's')
    db = await reopen(db, f.open)
    t.equal(await db.pruneSnapshots([]), 2, 'a good load writes its snapshots')
    await db.close()
    await t.rejects(db.load(Trail, 's'), { code: 'ANNALS_NOT_OPEN' })
    await t.rejects(db.pruneSnapshots([Trail]), { code: 'ANNALS_NOT_OPEN' })
  })

  t.test('defineAggregate refuses malformed definitions with a TypeError', async t => {
    const ok = { name: 'x', initial: () => 0, evolve: (s: number) => s }
    for (const bad of [
      undefined, 'x', { ...ok, name: '' }, { ...ok, name: 7 }, { ...ok, name: 'a\u0000b' }, { ...ok, name: 'x'.repeat(257) },
      { ...ok, initial: 0 }, { ...ok, evolve: undefined }, { ...ok, snapshotEvery: 0 }, { ...ok, snapshotEvery: 1.5 },
      { ...ok, snapshotEvery: '10' }, { ...ok, version: -1 }, { ...ok, version: 1.5 }, { ...ok, snapshotsEvery: 10 }
    ]) {
      t.throws(() => defineAggregate(bad as never), TypeError, JSON.stringify(bad))
    }
    const a = defineAggregate({ ...ok, snapshotEvery: 3 })
    t.same({ name: a.name, version: a.version, snapshotEvery: a.snapshotEvery }, { name: 'x', version: 1, snapshotEvery: 3 })
    t.match(a.fingerprint, /^[0-9a-f]{16}$/)
    t.ok(Object.isFrozen(a))
    const derived = defineAggregate({ ...a, version: 2, fingerprint: 'ignored' } as never)
    t.same([derived.version, derived.fingerprint], [2, a.fingerprint], 'a spread definition derives one; its fingerprint is computed')
  })
}
