// The model test of the whole store (test/store-model-*.test.ts, one file per backend): random
// sequences of appends (single and concurrent; with given, repeated and generated ids; right and
// wrong expected revisions; idempotent retries), reads, loads of an aggregate with snapshots (now
// and at any revision), an inline and an async projection (their views now and at any position;
// rebuilds, and a new version of the async one), shreds of personal data and reopens, each
// compared with a plain in-memory model that folds its events from scratch.
import { deepStrictEqual } from 'node:assert/strict'
import type { Test } from 'tap'
import fc from 'fast-check'
import {
  defineAggregate, defineProjection, type Aggregate, type Annals, type ExpectedRevision, type OpenOptions, type Projection,
  type ProjectionDefinition, type RecordedEvent
} from '../../src/index.js'
import { indexSettings } from '../../src/backend/level/stream-index.js'
import { backends, collect, type Fixture } from './backends.js'

interface ModelEvent {
  id: string
  stream: string
  revision: number
  position: number
  type: string
  data: unknown
  metadata: Record<string, unknown>
  redacted?: string[]
}

interface NewEvent { type: string, data: unknown, metadata?: Record<string, unknown>, id?: string }
interface Append { stream: string, events: NewEvent[], expected: ExpectedRevision }
type Outcome = { revision: number, position: number } | { code: string }

// ---------------------------------------------------------------------------------------------
// What is folded: the same functions run on the model's events and, inside annals, on the real
// ones (where personal fields come sealed: they are only copied, never computed on)

interface Acc { count: number, sum: number, email: unknown, last: string }
interface Total { count: number, sum: number, email: unknown }
interface Contact { email: unknown, n: number }

function amount (data: unknown): number {
  const n = (data as { n?: unknown } | null)?.n
  return typeof n === 'number' ? n : 0
}

function evolveAcc (s: Acc, e: { type: string, data: unknown }): Acc {
  return { count: s.count + 1, sum: s.sum + amount(e.data), email: e.type === 'Registered' ? (e.data as { email: unknown }).email : s.email, last: e.type }
}

/** A view as a handler writes it: `undefined` deletes the key. */
type Step<Doc> = (event: { stream: string, type: string, data: unknown }, doc: Doc | undefined) => [string, Doc | undefined] | undefined

/** The async view, by stream; its version weighs the amounts, so a new version changes every document. */
function totalsStep (version: number): Step<Total> {
  return (e, doc) => {
    if (e.type === 'Noted' && e.data === null) return [e.stream, undefined]
    const d = doc ?? { count: 0, sum: 0, email: null }
    return [e.stream, { count: d.count + 1, sum: d.sum + amount(e.data) * version, email: e.type === 'Registered' ? (e.data as { email: unknown }).email : d.email }]
  }
}

/** The inline view, by subject, of Registered events only. */
const contactsStep: Step<Contact> = (e, doc) => {
  if (e.type !== 'Registered') return undefined
  const d = e.data as { who: string, email: unknown }
  return [d.who, { email: d.email, n: (doc?.n ?? 0) + 1 }]
}

function fold<Doc> (step: Step<Doc>, events: readonly ModelEvent[]): Array<[string, Doc]> {
  const view = new Map<string, Doc>()
  for (const e of events) {
    const change = step(e, undefined)
    if (change === undefined) continue
    const [key] = change
    const [, doc] = step(e, view.get(key))!
    if (doc === undefined) view.delete(key)
    else view.set(key, doc)
  }
  return [...view].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

function projection<Doc> (name: string, mode: 'inline' | 'async', version: number, step: Step<Doc>, types?: string[]): ProjectionDefinition<Doc> {
  return defineProjection<Doc>({
    name,
    mode,
    version,
    ...(types === undefined ? {} : { types }),
    async handle (event, view) {
      const change = step(event, undefined)
      if (change === undefined) return
      const [key, doc] = step(event, await view.get(change[0]))!
      if (doc === undefined) view.del(key)
      else view.put(key, doc)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// The model

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

class Model {
  events: ModelEvent[] = []
  byId = new Map<string, ModelEvent>()
  /** the async projection's version */
  version = 1

  revision (stream: string): number {
    let r = -1
    for (const e of this.events) if (e.stream === stream) r = e.revision
    return r
  }

  /** The outcome the store must give; applies it. Generated ids are learnt from the store. */
  append (a: Append): Outcome {
    const seen = new Set<string>()
    let matches = 0
    for (const e of a.events) {
      if (e.id === undefined) continue
      if (seen.has(e.id)) return { code: 'ANNALS_DUPLICATE_ID' }
      seen.add(e.id)
      if (this.byId.has(e.id)) matches++
    }
    if (matches > 0) {
      if (matches < a.events.length) return { code: 'ANNALS_DUPLICATE_ID' }
      let last: ModelEvent | undefined
      for (const e of a.events) {
        const stored = this.byId.get(e.id!)!
        // once its subject is shredded, a sealed event's retry can no longer be recognised
        const same = stored.stream === a.stream && (last === undefined || stored.revision > last.revision) &&
          stored.redacted === undefined && stored.type === e.type && JSON.stringify(stored.data) === JSON.stringify(e.data) &&
          JSON.stringify(stored.metadata) === JSON.stringify(e.metadata ?? {})
        if (!same) return { code: 'ANNALS_DUPLICATE_ID' }
        last = stored
      }
      return { revision: last!.revision, position: last!.position }
    }
    const current = this.revision(a.stream)
    const x = a.expected
    if (!(x === 'any' || (x === 'no_stream' && current === -1) || (x === 'stream_exists' && current >= 0) || x === current)) {
      return { code: 'ANNALS_WRONG_EXPECTED_REVISION' }
    }
    for (const [i, e] of a.events.entries()) {
      const event: ModelEvent = {
        id: e.id ?? '', stream: a.stream, revision: current + 1 + i, position: this.events.length, type: e.type, data: structuredClone(e.data), metadata: e.metadata ?? {}
      }
      this.events.push(event)
      if (e.id !== undefined) this.byId.set(e.id, event)
    }
    return { revision: current + a.events.length, position: this.events.length - 1 }
  }

  /** Forgets a subject: the personal field of its events so far reads null. */
  shred (subject: string): void {
    for (const e of this.events) {
      const d = e.data as { who?: string, email?: unknown }
      if (e.type === 'Registered' && d.who === subject && d.email !== null) {
        e.data = { ...d, email: null }
        e.redacted = ['email']
      }
    }
  }

  learnIds (written: RecordedEvent[]): void {
    for (const r of written) {
      const e = this.events[r.position]!
      if (e.id === '') {
        if (!UUID_V7.test(r.id)) throw new Error(`generated id ${r.id} is not a UUIDv7`)
        if (this.byId.has(r.id)) throw new Error(`generated id ${r.id} is not unique`)
        e.id = r.id
        this.byId.set(r.id, e)
      }
    }
  }

  load (stream: string, revision: number): { state: Acc, revision: number, position: number } {
    let result = { state: { count: 0, sum: 0, email: null, last: '' } as Acc, revision: -1, position: -1 }
    for (const e of this.events) {
      if (e.stream === stream && e.revision <= revision) result = { state: evolveAcc(result.state, e), revision: e.revision, position: e.position }
    }
    return result
  }
}

// ---------------------------------------------------------------------------------------------
// The store under test

interface Real {
  fixture: Fixture
  db: Annals
  acc: Aggregate<Acc>
  totals: Projection<Total>
  contacts: Projection<Contact>
}

const OPTIONS: OpenOptions = { personalData: { Registered: { subject: 'who', fields: ['email'] } } }

async function openReal (r: Pick<Real, 'fixture' | 'acc'>, version: number): Promise<Real> {
  const db = await r.fixture.open(OPTIONS)
  const contacts = await db.project(projection('contacts', 'inline', 1, contactsStep, ['Registered']))
  const totals = await db.project(projection('totals', 'async', version, totalsStep(version)))
  return { ...r, db, totals, contacts }
}

async function reopen (m: Model, r: Real): Promise<void> {
  await r.db.close()
  Object.assign(r, await openReal(r, m.version))
}

function shape (e: ModelEvent | RecordedEvent): unknown {
  return [e.id, e.stream, e.revision, e.position, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), e.redacted ?? null]
}

async function outcome (p: Promise<{ revision: number, position: number }>): Promise<Outcome> {
  return await p.then(r => ({ revision: r.revision, position: r.position }), (err: { code?: string }) => ({ code: err.code ?? String(err) }))
}

async function learn (m: Model, r: Real, before: number): Promise<void> {
  if (m.events.length > before) m.learnIds(await collect(r.db.readAll({ from: before })))
}

// ---------------------------------------------------------------------------------------------
// Commands

class AppendCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly a: Append) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const before = m.events.length
    const expected = m.append(this.a)
    deepStrictEqual(await outcome(r.db.append(this.a.stream, this.a.events, { expectedRevision: this.a.expected })), expected, this.toString())
    await learn(m, r, before)
  }

  toString (): string { return `append(${JSON.stringify(this.a)})` }
}

/** Appends fired together land in one batch; each still succeeds or fails as if alone, in order. */
class ConcurrentCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly list: Append[]) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const before = m.events.length
    const expected = this.list.map(a => m.append(a))
    const actual = await Promise.all(this.list.map(async a => await outcome(r.db.append(a.stream, a.events, { expectedRevision: a.expected }))))
    deepStrictEqual(actual, expected, this.toString())
    await learn(m, r, before)
  }

  toString (): string { return `concurrently(${JSON.stringify(this.list)})` }
}

/** Appends a stored event again with its id, as a retry would. */
class RetryCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly k: number, readonly elsewhere: boolean) {}
  check (m: Readonly<Model>): boolean { return m.events.length > 0 }
  async run (m: Model, r: Real): Promise<void> {
    const e = m.events[this.k % m.events.length]!
    const a: Append = { stream: this.elsewhere ? `${e.stream}-elsewhere` : e.stream, events: [{ id: e.id, type: e.type, data: e.data, metadata: e.metadata }], expected: 'no_stream' }
    const before = m.events.length
    deepStrictEqual(await outcome(r.db.append(a.stream, a.events, { expectedRevision: a.expected })), m.append(a), this.toString())
    await learn(m, r, before)
  }

  toString (): string { return `retry(${this.k}, ${this.elsewhere})` }
}

interface Range { from?: number, to?: number, backwards: boolean, limit?: number }

function within (o: Range, value: (e: ModelEvent) => number, events: ModelEvent[]): ModelEvent[] {
  const low = (o.backwards ? o.to : o.from) ?? 0
  const high = (o.backwards ? o.from : o.to) ?? Infinity
  let want = events.filter(e => value(e) >= low && value(e) <= high)
  if (o.backwards) want.reverse()
  if (o.limit !== undefined) want = want.slice(0, o.limit)
  return want
}

/** A read of one stream or of the whole log, and a stream's revision. */
class ReadCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string | undefined, readonly o: Range) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    if (this.stream === undefined) {
      deepStrictEqual((await collect(r.db.readAll(this.o))).map(shape), within(this.o, e => e.position, m.events).map(shape), this.toString())
    } else {
      const events = m.events.filter(e => e.stream === this.stream)
      deepStrictEqual((await collect(r.db.readStream(this.stream, this.o))).map(shape), within(this.o, e => e.revision, events).map(shape), this.toString())
      deepStrictEqual(await r.db.revision(this.stream), m.revision(this.stream), `revision(${this.stream})`)
    }
  }

  toString (): string { return this.stream === undefined ? `readAll(${JSON.stringify(this.o)})` : `readStream(${this.stream}, ${JSON.stringify(this.o)})` }
}

/** Loads the aggregate now, or at a revision (from -1 to past the end). */
class LoadCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string, readonly pick: number | undefined) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const revision = this.pick === undefined ? undefined : this.pick % (m.revision(this.stream) + 4) - 1
    const loaded = await r.db.load(r.acc, this.stream, revision === undefined ? undefined : { at: { revision } })
    deepStrictEqual(loaded, m.load(this.stream, revision ?? Infinity), `${this.toString()} at ${String(revision)}`)
  }

  toString (): string { return `load(${this.stream}, ${String(this.pick)})` }
}

/** A view now (the async one once caught up: then live, without lag), or at a past position. */
class ViewCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly which: 'inline' | 'async', readonly pick: number | undefined) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const view: Projection<unknown> = this.which === 'inline' ? r.contacts : r.totals
    if (this.which === 'async') {
      await view.caughtUp()
      const { lag, state } = view.status()
      deepStrictEqual({ lag, state }, { lag: 0, state: 'live' }, `${this.toString()}: status`)
    }
    const position = this.pick === undefined || m.events.length === 0 ? undefined : this.pick % m.events.length
    const events = position === undefined ? m.events : m.events.filter(e => e.position <= position)
    const want: Array<[string, unknown]> = this.which === 'inline' ? fold(contactsStep, events) : fold(totalsStep(m.version), events)
    const read = position === undefined ? view : await view.at({ position })
    deepStrictEqual(await collect(read.query()), want, `${this.toString()} at ${String(position)}`)
    for (const [key, doc] of want) deepStrictEqual(await read.get(key), doc, `${this.toString()} at ${String(position)}: get(${key})`)
  }

  toString (): string { return `view(${this.which}, ${String(this.pick)})` }
}

class ShredCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly subject: string) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    await r.db.shred(this.subject)
    m.shred(this.subject)
  }

  toString (): string { return `shred(${this.subject})` }
}

/** Closes and opens again (the projections registered again: resumed, not rebuilt). */
class ReopenCommand implements fc.AsyncCommand<Model, Real> {
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> { await reopen(m, r) }
  toString (): string { return 'reopen' }
}

// Two bugs (test/projection-rebuild.test.ts) hold these commands back until they are fixed;
// RUN_BUGS=1 lets them run: rebuilds on an empty log never finish (so a new version waits for
// a first event), and rebuild() while the old generation waits at the head brings the old
// generation back (so rebuild() does not run).
const RUN_BUGS = process.env.RUN_BUGS === '1'

/** Reopens with a new version of the async projection, which rebuilds its view. */
class NewVersionCommand implements fc.AsyncCommand<Model, Real> {
  check (m: Readonly<Model>): boolean { return RUN_BUGS || m.events.length > 0 }
  async run (m: Model, r: Real): Promise<void> {
    m.version++
    await reopen(m, r)
  }

  toString (): string { return 'new version' }
}

class RebuildCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly which: 'inline' | 'async') {}
  check (): boolean { return RUN_BUGS }
  async run (_m: Model, r: Real): Promise<void> {
    await (this.which === 'inline' ? r.contacts : r.totals).rebuild()
  }

  toString (): string { return `rebuild(${this.which})` }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const streams = ['s0', 's1', 'user-2']
const idPool = ['i0', 'i1', 'i2', 'i3', 'i4']
const subjects = ['u0', 'u1', 'u2']
const plainEventArb = fc.record({
  type: fc.constantFrom('Added', 'Noted'),
  data: fc.oneof(fc.record({ n: fc.integer({ min: -5, max: 5 }) }), fc.string({ maxLength: 3 }), fc.constant(null)),
  metadata: fc.option(fc.record({ by: fc.constantFrom('a', 'b') }), { nil: undefined }),
  id: fc.option(fc.constantFrom(...idPool), { nil: undefined, freq: 3 })
}, { requiredKeys: ['type', 'data'] })
const personalEventArb = fc.record({
  type: fc.constant('Registered'),
  data: fc.record({ who: fc.constantFrom(...subjects), email: fc.string({ minLength: 1, maxLength: 5 }) }),
  id: fc.option(fc.constantFrom(...idPool), { nil: undefined, freq: 3 })
}, { requiredKeys: ['type', 'data'] })
const eventArb = fc.oneof({ arbitrary: plainEventArb, weight: 3 }, { arbitrary: personalEventArb, weight: 1 })
const appendArb: fc.Arbitrary<Append> = fc.record({
  stream: fc.constantFrom(...streams),
  events: fc.array(eventArb, { minLength: 1, maxLength: 4 }),
  expected: fc.oneof(fc.constantFrom<ExpectedRevision>('any', 'any', 'no_stream', 'stream_exists'), fc.integer({ min: -1, max: 6 }))
})
const bound = fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined })
const rangeArb: fc.Arbitrary<Range> = fc.record({ from: bound, to: bound, backwards: fc.boolean(), limit: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }) }, { requiredKeys: ['backwards'] })
const pickArb = fc.option(fc.nat(), { nil: undefined })

const commands = [
  appendArb.map(a => new AppendCommand(a)),
  appendArb.map(a => new AppendCommand(a)),
  fc.array(appendArb, { minLength: 2, maxLength: 5 }).map(list => new ConcurrentCommand(list)),
  fc.tuple(fc.nat(), fc.boolean()).map(([k, elsewhere]) => new RetryCommand(k, elsewhere)),
  fc.tuple(fc.option(fc.constantFrom(...streams), { nil: undefined }), rangeArb).map(([s, o]) => new ReadCommand(s, o)),
  fc.tuple(fc.constantFrom(...streams), pickArb).map(([s, pick]) => new LoadCommand(s, pick)),
  fc.tuple(fc.constantFrom(...streams), pickArb).map(([s, pick]) => new LoadCommand(s, pick)),
  fc.tuple(fc.constantFrom('inline' as const, 'async' as const), pickArb).map(([which, pick]) => new ViewCommand(which, pick)),
  fc.constantFrom(...subjects).map(s => new ShredCommand(s)),
  fc.constant(new ReopenCommand()),
  fc.constant(new NewVersionCommand()),
  fc.constantFrom('inline' as const, 'async' as const).map(which => new RebuildCommand(which))
]

/** With MODEL_TRACE=1, each command is written to stderr as it starts. */
function traced (list: Array<fc.AsyncCommand<Model, Real>>): Array<fc.AsyncCommand<Model, Real>> {
  if (process.env.MODEL_TRACE !== '1') return list
  return list.map(c => ({
    check: (m: Readonly<Model>) => c.check(m),
    run: async (m: Model, r: Real) => { process.stderr.write(`${c.toString()}\n`); await c.run(m, r) },
    toString: () => c.toString()
  }))
}

/** MODEL_SEED, MODEL_PATH and MODEL_REPLAY_PATH (the seed, path and replayPath fast-check prints on failure) replay a run. */
function replay (): { seed?: number, path?: string, endOnFailure?: boolean } {
  const seed = process.env.MODEL_SEED
  if (seed === undefined || seed === '') return {}
  const path = process.env.MODEL_PATH
  return { seed: Number(seed), ...(path === undefined || path === '' ? {} : { path }), endOnFailure: true }
}

/**
 * Runs the model test on the backend named `name` (one of test/helpers/backends.ts): `numRuns`
 * random sequences of up to `maxCommands` commands, each ending with a look at both views;
 * `skip` (a reason) skips it.
 */
export function storeModelTest (t: Test, name: string, numRuns: number, maxCommands = 40, skip: string | false = false): void {
  const backend = backends.find(b => b.name === name)
  if (backend === undefined) throw new Error(`no backend ${name}`)
  t.test(`the store behaves as the model on ${name}`, { skip }, async t => {
    const defaultFlush = indexSettings.flushEvents
    t.teardown(() => { indexSettings.flushEvents = defaultFlush })
    let ran = 0
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands, size: 'max', ...(process.env.MODEL_REPLAY_PATH === undefined ? {} : { replayPath: process.env.MODEL_REPLAY_PATH }) }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 12 }), async (cmds, every, flush) => {
      // small thresholds: loads start from snapshots, reads cross the streams' blocks and their tail
      indexSettings.flushEvents = flush
      const acc = defineAggregate({ name: 'acc', snapshotEvery: every, initial: (): Acc => ({ count: 0, sum: 0, email: null, last: '' }), evolve: evolveAcc })
      const fixture = await backend.make()
      const real = await openReal({ fixture, acc }, 1)
      const model = new Model()
      try {
        await fc.asyncModelRun(() => ({ model, real }), traced([...cmds, new ViewCommand('inline', undefined), new ViewCommand('async', undefined)]))
        ran++
      } finally {
        await real.db.close()
        await fixture.cleanup()
      }
    }), { numRuns, ...replay() })
    t.pass(`${ran} runs agreed with the model`)
  })
}
