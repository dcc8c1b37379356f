// A model test of aggregates: random streams built by random appends (some sharing a commit
// time), and loads now or at a random revision, position or time, each compared with folding
// the events from scratch. In between: reopens, all snapshots deleted, a new version, evolve
// changed without a new version, pruning. Small snapshot intervals and stream index flushes, so
// loads start from snapshots and read across the index on disk and in memory.
import { deepStrictEqual } from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import { defineAggregate, type Aggregate, type Annals, type RecordedEvent } from '../src/index.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import { backends, collect, type Fixture } from './helpers/backends.js'
import { ReopenCommand } from './helpers/commands.js'

interface State { count: number, hash: number, last: string }

const streams = ['s0', 's1', 's2']
const initial = (): State => ({ count: 0, hash: 7, last: '' })
// the same name with each change: a new version, or another evolve under the same version
const variants = (every: number): Aggregate<State>[] => [
  defineAggregate({ name: 'm', initial, snapshotEvery: every, evolve: (s, e) => ({ count: s.count + 1, hash: (s.hash * 31 + e.data) % 1_000_003, last: e.type }) }),
  defineAggregate({ name: 'm', initial, snapshotEvery: every, version: 2, evolve: (s, e) => ({ count: s.count + 1, hash: (s.hash * 31 + e.data) % 1_000_003, last: e.type }) }),
  defineAggregate({ name: 'm', initial, snapshotEvery: every, evolve: (s, e) => ({ count: s.count + 1, hash: (s.hash * 37 + e.data) % 1_000_003, last: e.type }) }),
  // an identical definition again: it shares the first one's snapshots
  defineAggregate({ name: 'm', initial, snapshotEvery: every, evolve: (s, e) => ({ count: s.count + 1, hash: (s.hash * 31 + e.data) % 1_000_003, last: e.type }) })
]

interface Model {
  events: RecordedEvent[]
  clock: number
  active: number
}

interface Real {
  fixture: Fixture
  db: Annals
  aggregates: Aggregate<State>[]
}

type At = { revision: number } | { position: number } | { time: number } | undefined

function expected (m: Model, aggregate: Aggregate<State>, stream: string, at: At): unknown {
  const keep = at === undefined
    ? () => true
    : 'revision' in at ? (e: RecordedEvent) => e.revision <= at.revision
      : 'position' in at ? (e: RecordedEvent) => e.position <= at.position
        : (e: RecordedEvent) => e.time <= at.time
  let result = { state: aggregate.initial(), revision: -1, position: -1 }
  for (const e of m.events) {
    if (e.stream === stream && keep(e)) result = { state: aggregate.evolve(result.state, e), revision: e.revision, position: e.position }
  }
  return result
}

class AppendCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly tick: number, readonly appends: Array<{ stream: string, data: number[] }>) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    m.clock += this.tick
    await Promise.all(this.appends.map(async a => await r.db.append(a.stream, a.data.map(n => ({ type: n % 2 === 0 ? 'Even' : 'Odd', data: n })))))
    m.events.push(...await collect(r.db.readAll({ from: m.events.length })))
  }

  toString (): string { return `tick ${this.tick}, append ${JSON.stringify(this.appends)}` }
}

class LoadCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string, readonly kind: 'now' | 'revision' | 'position' | 'time', readonly pick: number, readonly shift: number) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    let at: At
    if (this.kind === 'revision') at = { revision: this.pick % (m.events.length + 3) - 1 }
    else if (this.kind === 'position') at = { position: this.pick % (m.events.length + 3) - 1 }
    else if (this.kind === 'time') at = { time: (m.events[this.pick % (m.events.length + 1)]?.time ?? m.clock) + this.shift }
    const aggregate = r.aggregates[m.active]!
    deepStrictEqual(await r.db.load(aggregate, this.stream, at === undefined ? undefined : { at }), expected(m, aggregate, this.stream, at), this.toString())
  }

  toString (): string { return `load(${this.stream}, ${this.kind} ${this.pick} ${this.shift})` }
}

/** Switches to another definition of the aggregate: a new version, changed code, or the same again. */
class RedefineCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly variant: number) {}
  check (): boolean { return true }
  async run (m: Model): Promise<void> {
    m.active = this.variant
  }

  toString (): string { return `redefine(${this.variant})` }
}

class PruneCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly keep: number[]) {}
  check (): boolean { return true }
  async run (_m: Model, r: Real): Promise<void> {
    await r.db.pruneSnapshots(this.keep.map(i => r.aggregates[i]!))
  }

  toString (): string { return `pruneSnapshots(${JSON.stringify(this.keep)})` }
}

const commands = [
  fc.tuple(fc.constantFrom(0, 0, 1, 3), fc.array(fc.record({ stream: fc.constantFrom(...streams), data: fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 3 }))
    .map(([tick, appends]) => new AppendCommand(tick, appends)),
  fc.tuple(fc.constantFrom(...streams), fc.constantFrom('now' as const, 'revision' as const, 'position' as const, 'time' as const), fc.nat(), fc.constantFrom(-1, 0, 0, 1))
    .map(([stream, kind, pick, shift]) => new LoadCommand(stream, kind, pick, shift)),
  fc.tuple(fc.constantFrom(...streams), fc.constantFrom('now' as const, 'revision' as const, 'position' as const, 'time' as const), fc.nat(), fc.constantFrom(-1, 0, 0, 1))
    .map(([stream, kind, pick, shift]) => new LoadCommand(stream, kind, pick, shift)),
  fc.constant(new ReopenCommand<Model>()),
  fc.integer({ min: 0, max: 3 }).map(v => new RedefineCommand(v)),
  fc.subarray([0, 1, 2, 3]).map(keep => new PruneCommand(keep))
]

const realNow = Date.now
t.teardown(() => { Date.now = realNow })
const defaultFlush = indexSettings.flushEvents
t.teardown(() => { indexSettings.flushEvents = defaultFlush })

for (const backend of backends.filter(b => b.name === 'memory-level' || b.name === 'classic-level')) {
  t.test(`loads equal the fold from scratch on ${backend.name}`, async t => {
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands: 60, size: 'max' }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 10 }), async (cmds, every, flush) => {
      indexSettings.flushEvents = flush
      const model: Model = { events: [], clock: 1_700_000_000_000, active: 0 }
      Date.now = () => model.clock
      const fixture = await backend.make()
      const real: Real = { fixture, db: await fixture.open(), aggregates: variants(every) }
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds)
      } finally {
        Date.now = realNow
        await real.db.close()
        await fixture.cleanup()
      }
    }), { numRuns: backend.onDisk ? 80 : 300 })
    t.pass('every load agreed with the fold from scratch')
  })
}
