// A model test: random sequences of appends (single, batched, concurrent; right and wrong
// expectations; given, repeated and generated ids), reads in every direction and range,
// revisions and reopens, run against a plain in-memory model of the log. Run by
// test/log-model-<backend>.test.ts, one backend a file, so that each stays inside tap's timeout.
import { deepStrictEqual } from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import type { Annals, ExpectedRevision, RecordedEvent } from '../../src/index.js'
import { indexSettings } from '../../src/backend/level/stream-index.js'
import { backends, collect, type Fixture } from './backends.js'
import { ReopenCommand } from './commands.js'

interface ModelEvent {
  stream: string
  revision: number
  position: number
  type: string
  data: unknown
  metadata: Record<string, unknown>
  id: string
  redacted?: string[]
}

interface Append {
  stream: string
  events: Array<{ type: string, data: unknown, metadata?: Record<string, unknown>, id?: string }>
  expected: ExpectedRevision
}

type Outcome = { revision: number, position: number } | { code: string }

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

class Model {
  events: ModelEvent[] = []
  byId = new Map<string, ModelEvent>()

  revision (stream: string): number {
    let r = -1
    for (const e of this.events) if (e.stream === stream) r = e.revision
    return r
  }

  /** The outcome the log must give; applies it. Generated ids are filled in from the real log. */
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
          stored.redacted === undefined &&
          stored.type === e.type && JSON.stringify(stored.data) === JSON.stringify(e.data) &&
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
        stream: a.stream, revision: current + 1 + i, position: this.events.length, type: e.type, data: structuredClone(e.data), metadata: e.metadata ?? {}, id: e.id ?? ''
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
      if (e.type === 'Registered' && d.who === subject && d.email !== null && d.email !== undefined) {
        e.data = { ...d, email: null }
        e.redacted = ['email']
      }
    }
  }

  /** Learns the generated ids of events the log has just written. */
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
}

interface Real {
  fixture: Fixture
  db: Annals
}

function shape (e: ModelEvent | RecordedEvent): unknown {
  return [e.id, e.stream, e.revision, e.position, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), e.redacted ?? null]
}

/** What an append gave: its revision and position (its ids are checked against what it wrote, by learn), or its code. */
async function outcome (p: Promise<{ revision: number, position: number, ids: string[] }>): Promise<Outcome> {
  return await p.then(({ revision, position }) => ({ revision, position }), (err: { code?: string }) => ({ code: err.code ?? String(err) }))
}

async function learn (m: Model, r: Real, before: number): Promise<void> {
  if (m.events.length > before) m.learnIds(await collect(r.db.readAll({ from: before })))
}

const streams = ['s0', 's1', 's2', 'user-3']
const idPool = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5']
const subjects = ['u0', 'u1', 'u2']
const plainEventArb = fc.record({
  type: fc.constantFrom('Added', 'Retitled', 'Deleted'),
  data: fc.oneof(fc.record({ n: fc.integer({ min: -5, max: 5 }) }), fc.string({ maxLength: 4 }), fc.constant(null)),
  metadata: fc.option(fc.record({ by: fc.constantFrom('a', 'b') }), { nil: undefined }),
  id: fc.option(fc.constantFrom(...idPool), { nil: undefined, freq: 3 })
}, { requiredKeys: ['type', 'data'] })
// events with a personal field, sealed for their subject
const personalEventArb = fc.record({
  type: fc.constant('Registered'),
  data: fc.record({ who: fc.constantFrom(...subjects), email: fc.string({ minLength: 1, maxLength: 6 }) }),
  id: fc.option(fc.constantFrom(...idPool), { nil: undefined, freq: 3 })
}, { requiredKeys: ['type', 'data'] })
const eventArb = fc.oneof({ arbitrary: plainEventArb, weight: 3 }, { arbitrary: personalEventArb, weight: 1 })
const appendArb: fc.Arbitrary<Append> = fc.record({
  stream: fc.constantFrom(...streams),
  events: fc.array(eventArb, { minLength: 1, maxLength: 4 }),
  expected: fc.oneof(
    fc.constantFrom<ExpectedRevision>('any', 'no_stream', 'stream_exists'),
    fc.integer({ min: -1, max: 6 })
  )
})

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

/** Re-appends a stored event with its id, as a retry would: the original result. */
class RetryCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly k: number, readonly elsewhere: boolean) {}
  check (m: Readonly<Model>): boolean { return m.events.length > 0 }
  async run (m: Model, r: Real): Promise<void> {
    const e = m.events[this.k % m.events.length]!
    const a: Append = {
      stream: this.elsewhere ? `${e.stream}-elsewhere` : e.stream,
      events: [{ id: e.id, type: e.type, data: e.data, metadata: e.metadata }],
      expected: 'no_stream'
    }
    deepStrictEqual(await outcome(r.db.append(a.stream, a.events, { expectedRevision: a.expected })), m.append(a), this.toString())
  }

  toString (): string { return `retry(${this.k}, ${this.elsewhere})` }
}

class ReadStreamCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string, readonly o: { from?: number, to?: number, backwards: boolean, limit?: number }) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const low = (this.o.backwards ? this.o.to : this.o.from) ?? 0
    const high = (this.o.backwards ? this.o.from : this.o.to) ?? Infinity
    let want = m.events.filter(e => e.stream === this.stream && e.revision >= low && e.revision <= high)
    if (this.o.backwards) want.reverse()
    if (this.o.limit !== undefined) want = want.slice(0, this.o.limit)
    deepStrictEqual((await collect(r.db.readStream(this.stream, this.o))).map(shape), want.map(shape), this.toString())
  }

  toString (): string { return `readStream(${this.stream}, ${JSON.stringify(this.o)})` }
}

class ReadAllCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly o: { from?: number, to?: number, backwards: boolean, limit?: number, types?: string[] }) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const low = (this.o.backwards ? this.o.to : this.o.from) ?? 0
    const high = (this.o.backwards ? this.o.from : this.o.to) ?? Infinity
    let want = m.events.filter(e => e.position >= low && e.position <= high && (this.o.types === undefined || this.o.types.includes(e.type)))
    if (this.o.backwards) want.reverse()
    if (this.o.limit !== undefined) want = want.slice(0, this.o.limit)
    deepStrictEqual((await collect(r.db.readAll(this.o))).map(shape), want.map(shape), this.toString())
  }

  toString (): string { return `readAll(${JSON.stringify(this.o)})` }
}

class RevisionCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    deepStrictEqual(await r.db.revision(this.stream), m.revision(this.stream), this.toString())
  }

  toString (): string { return `revision(${this.stream})` }
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

const OPTIONS = { personalData: { Registered: { subject: 'who', fields: ['email'] } } }

const bound = fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined })
const rangeArb = fc.record({ from: bound, to: bound, backwards: fc.boolean(), limit: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }) }, { requiredKeys: ['backwards'] })
const commands = [
  appendArb.map(a => new AppendCommand(a)),
  fc.array(appendArb, { minLength: 2, maxLength: 6 }).map(list => new ConcurrentCommand(list)),
  fc.tuple(fc.nat(), fc.boolean()).map(([k, elsewhere]) => new RetryCommand(k, elsewhere)),
  fc.tuple(fc.constantFrom(...streams), rangeArb).map(([s, o]) => new ReadStreamCommand(s, o)),
  fc.tuple(rangeArb, fc.option(fc.subarray(['Added', 'Retitled', 'Deleted']), { nil: undefined })).map(([o, types]) => new ReadAllCommand({ ...o, ...(types === undefined ? {} : { types }) })),
  fc.constantFrom(...streams).map(s => new RevisionCommand(s)),
  fc.constant(new ReopenCommand<Model>(OPTIONS)),
  fc.constantFrom(...subjects).map(s => new ShredCommand(s))
]

/**
 * The model test on the backend named `name`: `numRuns` random sequences (by default 100 on disk,
 * 300 in memory); `skip` (a reason) skips it.
 */
export function logModel (name: string, options: { numRuns?: number, skip?: string | false } = {}): void {
  const backend = backends.find(b => b.name === name)!
  t.test(`the log behaves as the model on ${backend.name}`, { skip: options.skip ?? false }, async t => {
    const defaultFlush = indexSettings.flushEvents
    t.teardown(() => { indexSettings.flushEvents = defaultFlush })
    // a small flush threshold, so that reads cross the index on disk and its tail in memory
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands: 50, size: 'max' }), fc.integer({ min: 1, max: 12 }), async (cmds, flush) => {
      indexSettings.flushEvents = flush
      const fixture = await backend.make()
      const real: Real = { fixture, db: await fixture.open(OPTIONS) }
      try {
        await fc.asyncModelRun(() => ({ model: new Model(), real }), cmds)
      } finally {
        await real.db.close()
        await fixture.cleanup()
      }
    }), { numRuns: options.numRuns ?? (backend.onDisk ? 100 : 300) })
    t.pass('every run agreed with the model')
  })
}
