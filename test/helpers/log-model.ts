// A model test: random sequences of appends (single, batched, concurrent; right and wrong
// expectations; given, repeated and generated ids), reads in every direction and range,
// revisions and reopens, run against a plain in-memory model of the log. Run by
// test/log-model-<backend>.test.ts, one backend a file, so that each stays inside tap's timeout.
import { deepStrictEqual } from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import type { Annals, ExpectedRevision } from '../../src/index.js'
import { indexSettings } from '../../src/backend/level/stream-index.js'
import { backends, collect, type Fixture } from './backends.js'
import { ReopenCommand } from './commands.js'
import { AppendCommand, appendArb, ConcurrentCommand, LogModel as Model, RetryCommand, ShredCommand, rangeArb, shape, within } from './model-common.js'

interface Real {
  fixture: Fixture
  db: Annals
}

const streams = ['s0', 's1', 's2', 'user-3']
const subjects = ['u0', 'u1', 'u2']
const appends = appendArb({
  streams,
  types: ['Added', 'Retitled', 'Deleted'],
  ids: ['i0', 'i1', 'i2', 'i3', 'i4', 'i5'],
  subjects,
  maxLength: 4,
  expected: fc.oneof(fc.constantFrom<ExpectedRevision>('any', 'no_stream', 'stream_exists'), fc.integer({ min: -1, max: 6 }))
})

class ReadStreamCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly stream: string, readonly o: { from?: number, to?: number, backwards: boolean, limit?: number }) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const want = within(this.o, e => e.revision, m.events.filter(e => e.stream === this.stream))
    deepStrictEqual((await collect(r.db.readStream(this.stream, this.o))).map(shape), want.map(shape), this.toString())
  }

  toString (): string { return `readStream(${this.stream}, ${JSON.stringify(this.o)})` }
}

class ReadAllCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly o: { from?: number, to?: number, backwards: boolean, limit?: number, types?: string[] }) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const want = within(this.o, e => e.position, m.events.filter(e => this.o.types === undefined || this.o.types.includes(e.type)))
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

const OPTIONS = { personalData: { Registered: { subject: 'who', fields: ['email'] } } }

const commands = [
  appends.map(a => new AppendCommand<Model, Real>(a)),
  fc.array(appends, { minLength: 2, maxLength: 6 }).map(list => new ConcurrentCommand<Model, Real>(list)),
  fc.tuple(fc.nat(), fc.boolean()).map(([k, elsewhere]) => new RetryCommand<Model, Real>(k, elsewhere)),
  fc.tuple(fc.constantFrom(...streams), rangeArb(10)).map(([s, o]) => new ReadStreamCommand(s, o)),
  fc.tuple(rangeArb(10), fc.option(fc.subarray(['Added', 'Retitled', 'Deleted']), { nil: undefined })).map(([o, types]) => new ReadAllCommand({ ...o, ...(types === undefined ? {} : { types }) })),
  fc.constantFrom(...streams).map(s => new RevisionCommand(s)),
  fc.constant(new ReopenCommand<Model>(OPTIONS)),
  fc.constantFrom(...subjects).map(s => new ShredCommand<Model, Real>(s))
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
