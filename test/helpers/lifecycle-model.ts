// The model test of streams' lives (test/lifecycle-model-*.test.ts, one file per backend):
// random sequences of appends (with given ids, right and wrong expected revisions, retries),
// deletes, tombstones, truncations, retention (a stream's own and a category's, by count and by
// age against a clock the test moves), appends and changes fired together (sharing batches),
// scavenges, reopens and a new version of an async projection, compared with a plain in-memory model: readStream of each stream, readAll,
// revisions, the streams listed, load of an aggregate (with snapshots) at any revision, what a
// scavenge removes, and the documents of the async projection once caught up.
//
// The clock: `Date.now` is replaced for the run (as test/clock-backwards.test.ts does); it
// moves only by the clock command, so commit times and ages are known to the model.
//
// The projection sees what it reads: after every command that writes or moves the clock it is
// waited for (caughtUp), so it has folded every event that was readable right after the command
// that wrote it, and the system events of `$streams`; a new version rebuilds it from what reads
// at that moment. (After commands fired together that hid some of what they wrote, what it saw
// depends on how they shared batches: its documents are not compared until a new version.)
import { deepStrictEqual } from 'node:assert/strict'
import type { Test } from 'tap'
import fc from 'fast-check'
import {
  defineAggregate, defineProjection, type Aggregate, type Annals, type AppendResult, type ExpectedRevision, type Projection,
  type ProjectionDefinition, type RecordedEvent
} from '../../src/index.js'
import { indexSettings } from '../../src/backend/level/stream-index.js'
import { backends, collect, type Fixture } from './backends.js'
import { expects, rangeArb, replay, retryOf, traced, within, type Append, type NewEvent, type Range } from './model-common.js'

const START = 1_700_000_000_000
const SYSTEM = '$streams'

interface Retention { maxCount?: number, maxAge?: number }
interface Rule extends Retention { truncateBefore: number, tombstoned: boolean }

interface ModelEvent {
  id: string
  stream: string
  revision: number
  position: number
  time: number
  type: string
  data: unknown
  metadata: Record<string, unknown>
  /** taken out of the files by a scavenge */
  gone: boolean
}

type Outcome = { revision: number, position: number, ids: string[] } | { code: string }

// ---------------------------------------------------------------------------------------------
// What is folded: by the aggregate and by the async projection, on the model's events and the real ones

interface Acc { count: number, sum: number, last: string }

function amount (data: unknown): number {
  const n = (data as { n?: unknown } | null)?.n
  return typeof n === 'number' ? n : 0
}

const evolveAcc = (s: Acc, e: { type: string, data: unknown }): Acc => ({ count: s.count + 1, sum: s.sum + amount(e.data), last: e.type })

/** A document of the async projection: a stream's count and weighted sum, or a retention setting seen. */
type Doc = { count: number, sum: number, last: number, from?: number } | Record<string, unknown>

/** The one key an event changes: its stream's, or (a system event) the stream or setting it names. */
function keyOf (e: { stream: string, type: string, data: unknown }): string {
  if (e.stream !== SYSTEM) return e.stream
  const d = e.data as { stream?: string, prefix?: string }
  return e.type === '$StreamMetadataSet' ? `meta ${d.stream ?? `${d.prefix!}*`}` : d.stream!
}

/** The document after the event (undefined: deleted); the version weighs the amounts. */
function nextDoc (e: { stream: string, type: string, data: unknown, revision: number }, doc: Doc | undefined, version: number): Doc | undefined {
  if (e.stream === SYSTEM) {
    const d = e.data as { stream?: string, before?: number }
    switch (e.type) {
      case '$StreamDeleted':
      case '$StreamTombstoned': return undefined
      case '$StreamTruncated': return doc === undefined ? undefined : { ...doc, from: d.before }
      default: return { ...d }
    }
  }
  const s = (doc ?? { count: 0, sum: 0 }) as { count: number, sum: number }
  return { ...doc, count: s.count + 1, sum: s.sum + amount(e.data) * version, last: e.revision }
}

function fold (events: readonly ModelEvent[], version: number): Array<[string, Doc]> {
  const view = new Map<string, Doc>()
  for (const e of events) {
    const key = keyOf(e)
    const doc = nextDoc(e, view.get(key), version)
    if (doc === undefined) view.delete(key)
    else view.set(key, doc)
  }
  return [...view].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

function totals (version: number): ProjectionDefinition<Doc> {
  return defineProjection<Doc>({
    name: 'totals',
    mode: 'async',
    version,
    async handle (event, view) {
      const key = keyOf(event)
      const doc = nextDoc(event, await view.get(key), version)
      if (doc === undefined) view.del(key)
      else view.put(key, doc)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// The model

class Model {
  events: ModelEvent[] = []
  byId = new Map<string, ModelEvent>()
  rules = new Map<string, Rule>()
  categories = new Map<string, Retention>()
  clock = START
  headTime = 0
  /** the async projection's version, what it folded, and the last position it was waited for at */
  version = 1
  projected: ModelEvent[] = []
  seen = -1
  /**
   * false once the projection may or may not have seen an event: one that a concurrent command
   * wrote and hid again (the projection may have read it between two of its batches); a new
   * version makes it known again
   */
  known = true

  revision (stream: string): number {
    let r = -1
    for (const e of this.events) if (e.stream === stream) r = e.revision
    return r
  }

  retention (stream: string): Retention | undefined {
    const own = this.rules.get(stream)
    if (own?.maxCount !== undefined || own?.maxAge !== undefined) return own
    let best: string | undefined
    for (const prefix of this.categories.keys()) {
      // a system stream is in no category but one of '$' streams
      if (stream.startsWith('$') && !prefix.startsWith('$')) continue
      if (stream.startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = prefix
    }
    return best === undefined ? undefined : this.categories.get(best)
  }

  /** Whether an event reads now. */
  reads (e: ModelEvent): boolean {
    if (e.gone) return false
    const own = this.rules.get(e.stream)
    if (own !== undefined && (own.tombstoned || e.revision < own.truncateBefore)) return false
    const retention = this.retention(e.stream)
    if (retention?.maxAge !== undefined && e.time < this.clock - retention.maxAge) return false
    if (retention?.maxCount !== undefined && e.revision <= this.revision(e.stream) - retention.maxCount) return false
    return true
  }

  readable (): ModelEvent[] {
    return this.events.filter(e => this.reads(e))
  }

  #write (stream: string, events: NewEvent[]): Outcome {
    const time = Math.max(this.clock, this.headTime)
    this.headTime = time
    const current = this.revision(stream)
    const ids: string[] = []
    for (const [i, e] of events.entries()) {
      const event: ModelEvent = {
        id: e.id ?? '', stream, revision: current + 1 + i, position: this.events.length, time, type: e.type, data: structuredClone(e.data), metadata: e.metadata ?? {}, gone: false
      }
      this.events.push(event)
      if (e.id !== undefined) this.byId.set(e.id, event)
      ids.push(event.id)
    }
    return { revision: current + events.length, position: this.events.length - 1, ids }
  }

  /** The outcome the store must give; applies it. Generated ids are learnt from the store. */
  append (a: Append): Outcome {
    // a retry: answered with what was stored, even when it no longer reads (until a scavenge)
    const retry = retryOf(this.byId, a)
    if (retry !== undefined) return 'code' in retry ? retry : { revision: retry.revision, position: retry.position, ids: a.events.map(e => e.id!) }
    if (this.rules.get(a.stream)?.tombstoned === true) return { code: 'ANNALS_STREAM_DELETED' }
    if (!expects(a.expected, this.revision(a.stream))) return { code: 'ANNALS_WRONG_EXPECTED_REVISION' }
    return this.#write(a.stream, a.events)
  }

  lifecycle (c: Change): Outcome {
    if (c.kind === 'category') {
      if (c.retention === undefined) this.categories.delete(c.prefix)
      else this.categories.set(c.prefix, c.retention)
      return this.#write(SYSTEM, [{ type: '$StreamMetadataSet', data: { prefix: c.prefix, ...c.retention } }])
    }
    const rule = this.rules.get(c.stream) ?? { truncateBefore: 0, tombstoned: false }
    if (rule.tombstoned && c.kind !== 'tombstone') return { code: 'ANNALS_STREAM_DELETED' }
    const current = this.revision(c.stream)
    let next: Rule
    let event: NewEvent
    switch (c.kind) {
      case 'delete':
      case 'tombstone':
        if (!expects(c.expected, current)) return { code: 'ANNALS_WRONG_EXPECTED_REVISION' }
        next = { ...rule, truncateBefore: Math.max(rule.truncateBefore, current + 1), tombstoned: rule.tombstoned || c.kind === 'tombstone' }
        event = { type: c.kind === 'delete' ? '$StreamDeleted' : '$StreamTombstoned', data: { stream: c.stream, before: next.truncateBefore } }
        break
      case 'truncate':
        next = { ...rule, truncateBefore: Math.max(rule.truncateBefore, c.before) }
        event = { type: '$StreamTruncated', data: { stream: c.stream, before: next.truncateBefore } }
        break
      case 'retention':
        next = { truncateBefore: rule.truncateBefore, tombstoned: rule.tombstoned, ...c.retention }
        event = { type: '$StreamMetadataSet', data: { stream: c.stream, ...c.retention } }
        break
    }
    this.rules.set(c.stream, next)
    return this.#write(SYSTEM, [event])
  }

  /** Takes out what no longer reads; each stream then starts after the last revision taken out. Returns how many. */
  scavenge (): number {
    const removed = this.events.filter(e => !e.gone && !this.reads(e))
    for (const e of removed) {
      e.gone = true
      if (this.byId.get(e.id) === e) this.byId.delete(e.id)
      const rule = this.rules.get(e.stream) ?? { truncateBefore: 0, tombstoned: false }
      if (e.revision + 1 > rule.truncateBefore) this.rules.set(e.stream, { ...rule, truncateBefore: e.revision + 1 })
    }
    return removed.length
  }

  /** The streams listed: written, not tombstoned, and not deleted (or truncated) past their end. */
  streams (): Array<[string, number]> {
    const names = [...new Set(this.events.map(e => e.stream))].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    return names.map(s => [s, this.revision(s)] as [string, number]).filter(([s, r]) => {
      const rule = this.rules.get(s)
      return rule === undefined || (!rule.tombstoned && rule.truncateBefore <= r)
    })
  }

  /** The aggregate at a revision: folded from the stream's first readable revision; before it, the initial state at the revision before it. */
  load (stream: string, revision: number): { state: Acc, revision: number, position: number } {
    const readable = this.readable().filter(e => e.stream === stream)
    const start = readable[0]?.revision ?? this.revision(stream) + 1
    let result = { state: { count: 0, sum: 0, last: '' } as Acc, revision: start - 1, position: -1 }
    if (revision < start) return result
    for (const e of readable) if (e.revision <= revision) result = { state: evolveAcc(result.state, e), revision: e.revision, position: e.position }
    return result
  }

  /** The projection was waited for: it folded what reads of the events written since. */
  projectNew (): void {
    for (const e of this.events) if (e.position > this.seen && this.reads(e)) this.projected.push(e)
    this.seen = this.events.length - 1
  }

  /** A new version rebuilt the projection from what reads. */
  rebuild (): void {
    this.projected = this.readable()
    this.seen = this.events.length - 1
    this.known = true
  }

  learnIds (outcome: Outcome): void {
    if (!('ids' in outcome)) return
    const first = outcome.position - outcome.ids.length + 1
    for (const [i, id] of outcome.ids.entries()) {
      const e = this.events[first + i]!
      if (e.id === '') {
        if (this.byId.has(id)) throw new Error(`generated id ${id} is not unique`)
        e.id = id
        this.byId.set(id, e)
      }
    }
  }
}

type Change =
  | { kind: 'delete' | 'tombstone', stream: string, expected: ExpectedRevision }
  | { kind: 'truncate', stream: string, before: number }
  | { kind: 'retention', stream: string, retention: Retention | undefined }
  | { kind: 'category', prefix: string, retention: Retention | undefined }

// ---------------------------------------------------------------------------------------------
// The store under test

interface Real {
  fixture: Fixture
  db: Annals
  acc: Aggregate<Acc>
  totals: Projection<Doc>
}

async function reopen (m: Model, r: Real): Promise<void> {
  await r.db.close()
  r.db = await r.fixture.open()
  r.totals = await r.db.project(totals(m.version))
  await r.totals.caughtUp()
}

function shape (e: ModelEvent | RecordedEvent): unknown {
  return [e.id, e.stream, e.revision, e.position, e.time, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata)]
}

async function outcome (p: Promise<AppendResult>): Promise<Outcome> {
  return await p.then(r => ({ revision: r.revision, position: r.position, ids: r.ids }), (err: { code?: string }) => ({ code: err.code ?? String(err) }))
}

/** Compares an outcome whose generated ids the model learns from it. */
function same (actual: Outcome, expected: Outcome, m: Model, label: string): void {
  if ('ids' in actual && 'ids' in expected) {
    expected.ids = expected.ids.map((id, i) => id === '' ? actual.ids[i] ?? '' : id)
    m.learnIds(actual)
  }
  deepStrictEqual(actual, expected, label)
}

/** After a command that writes or moves the clock: the projection is waited for, as the model says it folds. */
async function settle (m: Model, r: Real): Promise<void> {
  await r.totals.caughtUp()
  m.projectNew()
}

// ---------------------------------------------------------------------------------------------
// Commands

type Command = fc.AsyncCommand<Model, Real>

class AppendCommand implements Command {
  constructor (readonly a: Append) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const actual = await outcome(r.db.append(this.a.stream, this.a.events, { expectedRevision: this.a.expected }))
    same(actual, m.append(this.a), m, this.toString())
    await settle(m, r)
  }

  toString (): string { return `append(${JSON.stringify(this.a)})` }
}

/** Appends a stored event again with its id, as a retry would (its stream may have lost it since). */
class RetryCommand implements Command {
  constructor (readonly k: number) {}
  check (m: Readonly<Model>): boolean { return m.events.some(e => e.stream !== SYSTEM) }
  async run (m: Model, r: Real): Promise<void> {
    const user = m.events.filter(e => e.stream !== SYSTEM)
    const e = user[this.k % user.length]!
    const a: Append = { stream: e.stream, events: [{ id: e.id, type: e.type, data: e.data, metadata: e.metadata }], expected: 'any' }
    same(await outcome(r.db.append(a.stream, a.events, { expectedRevision: a.expected })), m.append(a), m, `${this.toString()}: ${e.id}`)
    await settle(m, r)
  }

  toString (): string { return `retry(${this.k})` }
}

class LifecycleCommand implements Command {
  constructor (readonly c: Change) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const c = this.c
    const done = change(r.db, c)
    same(await outcome(done), m.lifecycle(c), m, this.toString())
    await settle(m, r)
  }

  toString (): string { return JSON.stringify(this.c) }
}

function change (db: Annals, c: Change): Promise<AppendResult> {
  switch (c.kind) {
    case 'delete': return db.deleteStream(c.stream, { expectedRevision: c.expected })
    case 'tombstone': return db.tombstoneStream(c.stream, { expectedRevision: c.expected })
    case 'truncate': return db.truncateStream(c.stream, { before: c.before })
    case 'retention': return db.setStreamMetadata(c.stream, c.retention ?? {})
    case 'category': return db.setStreamMetadata(`${c.prefix}*`, c.retention ?? {})
  }
}

/**
 * Appends and changes fired together: they share batches, and each succeeds or fails as if
 * alone, in the order they were made (a tombstone then an append to it in one batch, say).
 */
class ConcurrentCommand implements Command {
  constructor (readonly list: Array<Append | Change>) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const before = m.events.length
    const actual = await Promise.all(this.list.map(async x => await outcome('kind' in x ? change(r.db, x) : r.db.append(x.stream, x.events, { expectedRevision: x.expected }))))
    const expected = this.list.map(x => 'kind' in x ? m.lifecycle(x) : m.append(x))
    actual.forEach((a, i) => { same(a, expected[i]!, m, `${this.toString()}: ${i}`) })
    if (m.events.slice(before).some(e => !m.reads(e))) m.known = false
    await settle(m, r)
  }

  toString (): string { return `concurrently(${JSON.stringify(this.list)})` }
}

class ClockCommand implements Command {
  constructor (readonly by: number) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    m.clock += this.by
    await settle(m, r)
  }

  toString (): string { return `clock(+${this.by})` }
}

class ScavengeCommand implements Command {
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const { removed } = await r.db.scavenge()
    deepStrictEqual(removed, m.scavenge(), 'scavenge: removed')
    await settle(m, r)
  }

  toString (): string { return 'scavenge' }
}

/** A read of one stream (with its revision) or of the whole log. */
class ReadCommand implements Command {
  constructor (readonly stream: string | undefined, readonly o: Range) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const readable = m.readable()
    if (this.stream === undefined) {
      deepStrictEqual((await collect(r.db.readAll(this.o))).map(shape), within(this.o, e => e.position, readable).map(shape), this.toString())
    } else {
      const events = readable.filter(e => e.stream === this.stream)
      deepStrictEqual((await collect(r.db.readStream(this.stream, this.o))).map(shape), within(this.o, e => e.revision, events).map(shape), this.toString())
      deepStrictEqual(await r.db.revision(this.stream), m.revision(this.stream), `revision(${this.stream})`)
    }
  }

  toString (): string { return this.stream === undefined ? `readAll(${JSON.stringify(this.o)})` : `readStream(${this.stream}, ${JSON.stringify(this.o)})` }
}

/** Every stream read whole, their revisions, the streams listed and the head. */
class ReadEverythingCommand implements Command {
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const readable = m.readable()
    deepStrictEqual((await collect(r.db.readAll())).map(shape), readable.map(shape), 'readAll')
    for (const stream of [...streams, SYSTEM]) {
      deepStrictEqual((await collect(r.db.readStream(stream))).map(shape), readable.filter(e => e.stream === stream).map(shape), `readStream(${stream})`)
      deepStrictEqual(await r.db.revision(stream), m.revision(stream), `revision(${stream})`)
    }
    deepStrictEqual((await collect(r.db.streams())).map(s => [s.stream, s.revision]), m.streams(), 'streams()')
    deepStrictEqual(await r.db.head(), { position: m.events.length - 1, time: m.events.length === 0 ? 0 : m.headTime }, 'head()')
  }

  toString (): string { return 'read everything' }
}

/** Loads the aggregate now, or at a revision (from -1 to past the end). */
class LoadCommand implements Command {
  constructor (readonly stream: string, readonly pick: number | undefined) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const revision = this.pick === undefined ? undefined : this.pick % (m.revision(this.stream) + 4) - 1
    const loaded = await r.db.load(r.acc, this.stream, revision === undefined ? undefined : { at: { revision } })
    deepStrictEqual(loaded, m.load(this.stream, revision ?? m.revision(this.stream)), `${this.toString()} at ${String(revision)}`)
  }

  toString (): string { return `load(${this.stream}, ${String(this.pick)})` }
}

/** The async projection's documents, once caught up. */
class ViewCommand implements Command {
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    await r.totals.caughtUp()
    const { lag, state } = r.totals.status()
    deepStrictEqual({ lag, state }, { lag: 0, state: 'live' }, 'view: status')
    if (!m.known) return
    const want = fold(m.projected, m.version)
    deepStrictEqual(await collect(r.totals.query()), want, 'view')
    for (const [key, doc] of want) deepStrictEqual(await r.totals.get(key), doc, `view: get(${key})`)
  }

  toString (): string { return 'view' }
}

class ReopenCommand implements Command {
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    await reopen(m, r)
    m.projectNew()
  }

  toString (): string { return 'reopen' }
}

/** Reopens with a new version of the projection, which rebuilds its view from what reads. */
class NewVersionCommand implements Command {
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    m.version++
    await reopen(m, r)
    m.rebuild()
  }

  toString (): string { return 'new version' }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const streams = ['s0', 's1', 'user-1', 'user-2']
// '' is the category '*': every stream of the user's ($streams is in no category but '$…')
const prefixes = ['user-', 's', '']
const idPool = ['i0', 'i1', 'i2', 'i3', 'i4']
const eventArb: fc.Arbitrary<NewEvent> = fc.record({
  type: fc.constantFrom('Added', 'Noted'),
  data: fc.oneof(fc.record({ n: fc.integer({ min: -5, max: 5 }) }), fc.string({ maxLength: 3 }), fc.constant(null)),
  metadata: fc.option(fc.record({ by: fc.constantFrom('a', 'b') }), { nil: undefined }),
  id: fc.option(fc.constantFrom(...idPool), { nil: undefined, freq: 3 })
}, { requiredKeys: ['type', 'data'] })
const expectedArb: fc.Arbitrary<ExpectedRevision> = fc.oneof(
  { arbitrary: fc.constantFrom<ExpectedRevision>('any', 'no_stream', 'stream_exists'), weight: 3 },
  { arbitrary: fc.integer({ min: -1, max: 8 }), weight: 1 })
const appendArb: fc.Arbitrary<Append> = fc.record({
  stream: fc.constantFrom(...streams),
  events: fc.array(eventArb, { minLength: 1, maxLength: 3 }),
  expected: fc.oneof({ arbitrary: fc.constant<ExpectedRevision>('any'), weight: 3 }, { arbitrary: expectedArb, weight: 1 })
})
const retentionArb: fc.Arbitrary<Retention | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.record({ maxCount: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ maxAge: fc.constantFrom(0, 1000, 5000) }),
  fc.record({ maxCount: fc.integer({ min: 0, max: 4 }), maxAge: fc.constantFrom(1000, 5000) }))
const streamArb = fc.constantFrom(...streams)

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constantFrom<'delete' | 'tombstone'>('delete', 'delete', 'tombstone'), stream: streamArb, expected: expectedArb }),
  fc.record({ kind: fc.constant<'truncate'>('truncate'), stream: streamArb, before: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ kind: fc.constant<'retention'>('retention'), stream: streamArb, retention: retentionArb }),
  fc.record({ kind: fc.constant<'category'>('category'), prefix: fc.constantFrom(...prefixes), retention: retentionArb }))

const commands: Array<fc.Arbitrary<Command>> = [
  appendArb.map(a => new AppendCommand(a)),
  appendArb.map(a => new AppendCommand(a)),
  appendArb.map(a => new AppendCommand(a)),
  fc.nat().map(k => new RetryCommand(k)),
  fc.record({ stream: streamArb, expected: fc.oneof({ arbitrary: fc.constant<ExpectedRevision>('any'), weight: 2 }, { arbitrary: expectedArb, weight: 1 }) })
    .map(c => new LifecycleCommand({ kind: 'delete', ...c })),
  fc.record({ stream: streamArb, expected: fc.oneof({ arbitrary: fc.constant<ExpectedRevision>('any'), weight: 3 }, { arbitrary: expectedArb, weight: 1 }) })
    .map(c => new LifecycleCommand({ kind: 'tombstone', ...c })),
  fc.record({ stream: streamArb, before: fc.integer({ min: 0, max: 10 }) }).map(c => new LifecycleCommand({ kind: 'truncate', ...c })),
  fc.record({ stream: streamArb, retention: retentionArb }).map(c => new LifecycleCommand({ kind: 'retention', ...c })),
  fc.record({ prefix: fc.constantFrom(...prefixes), retention: retentionArb }).map(c => new LifecycleCommand({ kind: 'category', ...c })),
  fc.array(fc.oneof(appendArb, appendArb, changeArb), { minLength: 2, maxLength: 5 }).map(list => new ConcurrentCommand(list)),
  fc.constantFrom(0, 400, 1000, 3000, 10_000).map(by => new ClockCommand(by)),
  fc.constant(new ScavengeCommand()),
  fc.constant(new ScavengeCommand()),
  fc.tuple(fc.option(streamArb, { nil: undefined }), rangeArb(8)).map(([s, o]) => new ReadCommand(s, o)),
  fc.tuple(streamArb, fc.option(fc.nat(), { nil: undefined })).map(([s, pick]) => new LoadCommand(s, pick)),
  fc.tuple(streamArb, fc.option(fc.nat(), { nil: undefined })).map(([s, pick]) => new LoadCommand(s, pick)),
  fc.constant(new ViewCommand()),
  fc.constant(new ReopenCommand()),
  fc.constant(new NewVersionCommand())
]

/**
 * Runs the lifecycle model test on the backend named `name` (one of test/helpers/backends.ts):
 * `numRuns` random sequences of up to `maxCommands` commands, each ending with every read, the
 * view, a scavenge, a reopen and every read again.
 */
export function lifecycleModelTest (t: Test, name: string, numRuns: number, maxCommands = 40): void {
  const backend = backends.find(b => b.name === name)
  if (backend === undefined) throw new Error(`no backend ${name}`)
  t.test(`streams' lives agree with the model on ${name}`, async t => {
    const realNow = Date.now
    const defaultFlush = indexSettings.flushEvents
    t.teardown(() => { Date.now = realNow; indexSettings.flushEvents = defaultFlush })
    let ran = 0
    let commandsRun = 0
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands, size: 'max' }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 12 }), async (cmds, every, flush) => {
      // small thresholds: loads start from snapshots, reads cross the streams' blocks and their tail
      indexSettings.flushEvents = flush
      const model = new Model()
      Date.now = () => model.clock
      const acc = defineAggregate({ name: 'acc', snapshotEvery: every, initial: (): Acc => ({ count: 0, sum: 0, last: '' }), evolve: evolveAcc })
      const fixture = await backend.make()
      const db = await fixture.open()
      const real: Real = { fixture, db, acc, totals: await db.project(totals(1)) }
      const end = [new ReadEverythingCommand(), new ViewCommand(), new ScavengeCommand(), new ReopenCommand(), new ReadEverythingCommand(), new ViewCommand()]
      try {
        const list = [...cmds, ...end]
        commandsRun += list.length
        await fc.asyncModelRun(() => ({ model, real }), traced(list))
        ran++
      } finally {
        await real.db.close()
        await fixture.cleanup()
        Date.now = realNow
      }
    }), { numRuns, ...replay() })
    t.pass(`${ran} runs (${commandsRun} commands) agreed with the model`)
  })
}
