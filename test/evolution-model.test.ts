// A model test of a log that lives for years (issue 14): random sequences of appends, changes
// of the event types' declared versions and steps between reopens, reads of streams and of the
// log (by type, too), loads at any revision (with snapshots), and a projection's view, run
// against a plain in-memory model of the log.
//
// To add a command: give the model what it needs to answer (a method of `Model`), write a class
// implementing `fc.AsyncCommand<Model, Real>` whose `run` does it to both and compares, and add
// its arbitrary to `commands`. Reads compare through `model.read(...)`, which applies the
// schema in force, so lifecycle commands (deletes, truncations, ...) only have to change
// `model.events` (or filter what `read` returns).
import { deepStrictEqual } from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import {
  defineAggregate, defineProjection, type Annals, type EventDeclaration, type EventShape, type RecordedEvent
} from '../src/index.js'
import { backends, collect, type Fixture } from './helpers/backends.js'

const TYPES = ['A', 'B', 'Old'] as const
type Type = typeof TYPES[number]
const streams = ['s0', 's1', 's2']

/**
 * A schema: the version of each type. What the step of a type from a version does is fixed
 * for ever (a release that changes it bumps the version, as docs/evolution.md asks). `Old` was
 * renamed `A`: at version 2, its step 1 makes it an `A` at version 2 (so `A` is at 2 or more).
 */
interface Schema { versions: Record<Type, number> }

interface Stored {
  id: string
  stream: string
  revision: number
  position: number
  type: string
  version: number
  data: Record<string, unknown>
  metadata: Record<string, unknown>
}

/** The step of `type` from `version`, as the model applies it. */
function modelStep (type: string, version: number, e: EventShape): EventShape {
  if (type === 'Old') return { type: 'A', data: { ...e.data, from: 'Old' }, metadata: { ...e.metadata, renamed: true } }
  return { ...e, data: { ...e.data, [`${type}${version}`]: version * 10 + (e.data.n as number) } }
}

/** The declarations that make annals do what {@link modelStep} says. */
function declarations (schema: Schema): Record<string, EventDeclaration> {
  const out: Record<string, EventDeclaration> = {}
  for (const type of TYPES) {
    const version = schema.versions[type]
    const upcast: Record<number, (e: EventShape) => EventShape> = {}
    for (let v = 1; v < version; v++) upcast[v] = e => modelStep(type, v, e)
    out[type] = version === 1 ? { version } : { version, upcast }
  }
  return out
}

class Model {
  events: Stored[] = []
  schema: Schema = { versions: { A: 1, B: 1, Old: 1 } }

  revision (stream: string): number {
    let r = -1
    for (const e of this.events) if (e.stream === stream) r = e.revision
    return r
  }

  version (type: string): number {
    return this.schema.versions[type as Type] ?? 1
  }

  /** An event as the schema in force reads it. */
  upcast (e: Stored): Stored {
    let shape: EventShape = { type: e.type, data: e.data, metadata: e.metadata }
    let version = e.version
    while (version < this.version(shape.type)) {
      shape = modelStep(shape.type, version, shape)
      version++
    }
    return { ...e, type: shape.type, version, data: shape.data, metadata: shape.metadata }
  }

  /** Every event as read, in position order. */
  read (): Stored[] {
    return this.events.map(e => this.upcast(e))
  }
}

interface Real {
  fixture: Fixture
  db: Annals
}

const shape = (e: Stored | RecordedEvent): unknown[] =>
  [e.id, e.stream, e.revision, e.position, e.type, e.version, JSON.stringify(e.data), JSON.stringify(e.metadata)]

/** Folds a stream to the list of its events' shapes: any difference in any event shows. */
const Trail = defineAggregate({
  name: 'trail',
  initial: () => [] as string[],
  evolve: (state, e) => [...state, `${e.type}/${e.version}/${JSON.stringify(e.data)}/${JSON.stringify(e.metadata)}`],
  snapshotEvery: 2
})

/** A view of the `A` events as read (renamed ones included), by position. */
const AView = defineProjection({
  name: 'a-events',
  types: ['A'],
  handle: (e, view) => { view.put(String(e.position).padStart(6, '0'), `${e.version}/${JSON.stringify(e.data)}/${JSON.stringify(e.metadata)}`) }
})

async function openWith (r: Real, schema: Schema): Promise<void> {
  r.db = await r.fixture.open({ events: declarations(schema) })
}

class AppendCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string, readonly events: Array<{ type: Type, n: number }>) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const result = await r.db.append(this.stream, this.events.map(e => ({ type: e.type, data: { n: e.n }, metadata: { by: 'test' } })))
    const first = m.revision(this.stream) + 1
    this.events.forEach((e, i) => {
      m.events.push({
        id: result.ids[i]!, stream: this.stream, revision: first + i, position: m.events.length, type: e.type, version: m.version(e.type), data: { n: e.n }, metadata: { by: 'test' }
      })
    })
    deepStrictEqual([result.revision, result.position], [m.revision(this.stream), m.events.length - 1], this.toString())
  }

  toString (): string { return `append(${this.stream}, ${JSON.stringify(this.events)})` }
}

/** Closes, and opens again with another schema: the application's next release. */
class ReleaseCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly schema: Schema) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    await r.db.close()
    m.schema = this.schema
    await openWith(r, this.schema)
  }

  toString (): string { return `release(${JSON.stringify(this.schema)})` }
}

class ReadStreamCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string, readonly backwards: boolean) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const want = m.read().filter(e => e.stream === this.stream)
    if (this.backwards) want.reverse()
    deepStrictEqual((await collect(r.db.readStream(this.stream, { backwards: this.backwards }))).map(shape), want.map(shape), this.toString())
  }

  toString (): string { return `readStream(${this.stream}, backwards: ${String(this.backwards)})` }
}

class ReadAllCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly types: string[] | undefined, readonly limit: number | undefined, readonly backwards: boolean) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    let want = m.read().filter(e => this.types === undefined || this.types.includes(e.type))
    if (this.backwards) want.reverse()
    if (this.limit !== undefined) want = want.slice(0, this.limit)
    const options = { backwards: this.backwards, ...(this.types === undefined ? {} : { types: this.types }), ...(this.limit === undefined ? {} : { limit: this.limit }) }
    deepStrictEqual((await collect(r.db.readAll(options))).map(shape), want.map(shape), this.toString())
  }

  toString (): string { return `readAll(${JSON.stringify({ types: this.types, limit: this.limit, backwards: this.backwards })})` }
}

class LoadCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string, readonly at: number | undefined) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const last = m.revision(this.stream)
    const target = this.at === undefined ? last : Math.min(this.at, last)
    const events = m.read().filter(e => e.stream === this.stream && e.revision <= target)
    const want = { state: events.map(e => `${e.type}/${e.version}/${JSON.stringify(e.data)}/${JSON.stringify(e.metadata)}`), revision: events.at(-1)?.revision ?? -1 }
    const loaded = await r.db.load(Trail, this.stream, this.at === undefined ? undefined : { at: { revision: this.at } })
    deepStrictEqual({ state: loaded.state, revision: loaded.revision }, want, this.toString())
  }

  toString (): string { return `load(${this.stream}, at: ${String(this.at)})` }
}

class ViewCommand implements fc.AsyncCommand<Model, Real> {
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const view = await r.db.project(AView)
    await view.caughtUp()
    const want = m.read().filter(e => e.type === 'A').map(e => [String(e.position).padStart(6, '0'), `${e.version}/${JSON.stringify(e.data)}/${JSON.stringify(e.metadata)}`])
    deepStrictEqual(await collect(view.query()), want, this.toString())
  }

  toString (): string { return 'view' }
}

const versionArb = fc.integer({ min: 1, max: 3 })
const schemaArb: fc.Arbitrary<Schema> = fc.record({ A: versionArb, B: versionArb, Old: fc.integer({ min: 1, max: 2 }) })
  // a rename makes an A at version 2: A must be declared there or later
  .map(({ A, B, Old }) => ({ versions: { A: Old === 2 ? Math.max(A, 2) : A, B, Old } }))
const eventArb = fc.record({ type: fc.constantFrom(...TYPES), n: fc.integer({ min: 0, max: 9 }) })

/** The commands: add one here (see the top of the file). */
const commands = [
  fc.tuple(fc.constantFrom(...streams), fc.array(eventArb, { minLength: 1, maxLength: 3 })).map(([s, events]) => new AppendCommand(s, events)),
  schemaArb.map(schema => new ReleaseCommand(schema)),
  fc.tuple(fc.constantFrom(...streams), fc.boolean()).map(([s, backwards]) => new ReadStreamCommand(s, backwards)),
  fc.tuple(fc.option(fc.subarray(['A', 'B', 'Old']), { nil: undefined }), fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }), fc.boolean())
    .map(([types, limit, backwards]) => new ReadAllCommand(types, limit, backwards)),
  fc.tuple(fc.constantFrom(...streams), fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined })).map(([s, at]) => new LoadCommand(s, at)),
  fc.constant(new ViewCommand())
]

for (const backend of backends.filter(b => b.name === 'memory-level' || b.name === 'classic-level')) {
  t.test(`reads, loads and views of an evolving schema behave as the model on ${backend.name}`, async t => {
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: 'max' }), async cmds => {
      const fixture = await backend.make()
      const model = new Model()
      const real: Real = { fixture, db: undefined as unknown as Annals }
      await openWith(real, model.schema)
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds)
      } finally {
        await real.db.close()
        await fixture.cleanup()
      }
    }), { numRuns: backend.onDisk ? 40 : 150 })
    t.pass('every run agreed with the model')
  })
}
