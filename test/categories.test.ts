// Categories of streams (a prefix of their names) against a filter over readAll: reads in both
// directions with from, to and limit (alone, and with types and tags), subscriptions (catching up
// then live), and projections (async and inline), on random streams with shared prefixes, across
// reopens. First on few streams, where a category is read by merging its streams' own reads; then
// on more streams in one category than MERGE_STREAMS, where it is read by a scan of the log.
import { deepStrictEqual } from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import { defineProjection, type Annals, type RecordedEvent } from '../src/index.js'
import { MERGE_STREAMS } from '../src/backend/level/filtered.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import { backends, collect, type Fixture } from './helpers/backends.js'
import { ReopenCommand } from './helpers/commands.js'

interface Real { fixture: Fixture, db: Annals }
/** nothing: the log itself, read back with readAll, is the oracle */
type Model = Record<string, never>

interface Range { from?: number, to?: number, backwards: boolean, limit?: number }
interface Filter { prefix: string, types?: string[], tags?: string[] }

/** What a category read must give: readAll's events, filtered, in the range, in order, limited. */
function expected (all: RecordedEvent[], filter: Filter, range: Range): RecordedEvent[] {
  const low = (range.backwards ? range.to : range.from) ?? 0
  const high = (range.backwards ? range.from : range.to) ?? Infinity
  let out = all.filter(e => e.position >= low && e.position <= high && kept(e, filter))
  if (range.backwards) out.reverse()
  if (range.limit !== undefined) out = out.slice(0, range.limit)
  return out
}

function kept (e: RecordedEvent, filter: Filter): boolean {
  return e.stream.startsWith(filter.prefix) &&
    (filter.types === undefined || filter.types.includes(e.type)) &&
    (filter.tags === undefined || filter.tags.every(tag => e.tags?.includes(tag) === true))
}

function options (filter: Filter): { streams: { prefix: string }, types?: string[], tags?: string[] } {
  return { streams: { prefix: filter.prefix }, ...(filter.types === undefined ? {} : { types: filter.types }), ...(filter.tags === undefined ? {} : { tags: filter.tags }) }
}

const positions = (events: RecordedEvent[]): number[] => events.map(e => e.position)

/** Reads a category as asked and compares it with the filter over readAll. */
async function checkRead (db: Annals, filter: Filter, range: Range, what: string, log?: RecordedEvent[]): Promise<void> {
  const all = log ?? await collect(db.readAll())
  const got = await collect(db.readAll({ ...options(filter), ...range }))
  deepStrictEqual(got, expected(all, filter, range), what)
}

/** Subscribes to a category from a position, catches up, then hears what `more` appends live. */
async function checkSubscription (db: Annals, filter: Filter, from: number, more: () => Promise<void>, what: string): Promise<void> {
  const seen: RecordedEvent[] = []
  const sub = db.subscribe({ ...options(filter), from }, e => { seen.push(e) })
  try {
    await sub.caughtUp()
    deepStrictEqual(positions(seen), positions(expected(await collect(db.readAll()), filter, { from, backwards: false })), `${what}, catching up`)
    await more()
    await sub.caughtUp()
    deepStrictEqual(seen, expected(await collect(db.readAll()), filter, { from, backwards: false }), `${what}, live`)
  } finally {
    await sub.close()
  }
}

// ---- the property on few streams ----

const SEGMENTS = ['a', 'b', '-', '1', 'é']
const TYPES = ['A', 'B']
const TAGS = ['x', 'y']
const nameArb = fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 4 }).map(s => s.join(''))
const prefixArb = fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 3 }).map(s => s.join(''))
const eventArb = fc.record({
  type: fc.constantFrom(...TYPES),
  tags: fc.option(fc.subarray(TAGS, { minLength: 1 }), { nil: undefined })
}, { requiredKeys: ['type'] })
const appendArb = fc.record({ stream: nameArb, events: fc.array(eventArb, { minLength: 1, maxLength: 3 }) })
const filterArb: fc.Arbitrary<Filter> = fc.record({
  prefix: prefixArb,
  types: fc.subarray(TYPES, { minLength: 1 }),
  tags: fc.subarray(TAGS, { minLength: 1 })
}, { requiredKeys: ['prefix'] })
const bound = fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined })
const rangeArb: fc.Arbitrary<Range> = fc.record({ from: bound, to: bound, backwards: fc.boolean(), limit: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }) }, { requiredKeys: ['backwards'] })

type Append = { stream: string, events: Array<{ type: string, tags?: string[] }> }

async function appendAll (db: Annals, list: Append[], together: boolean, many: boolean): Promise<void> {
  if (many) {
    await db.appendMany(list.map(a => ({ stream: a.stream, events: a.events })))
  } else if (together) {
    await Promise.all(list.map(async a => await db.append(a.stream, a.events)))
  } else {
    for (const a of list) await db.append(a.stream, a.events)
  }
}

class AppendCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly list: Append[], readonly together: boolean, readonly many: boolean) {}
  check (): boolean { return true }
  async run (_: Model, r: Real): Promise<void> { await appendAll(r.db, this.list, this.together, this.many) }
  toString (): string { return `append(${JSON.stringify(this.list)}, ${this.together ? 'together' : 'in turn'}${this.many ? ', appendMany' : ''})` }
}

class ReadCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly filter: Filter, readonly range: Range) {}
  check (): boolean { return true }
  async run (_: Model, r: Real): Promise<void> { await checkRead(r.db, this.filter, this.range, this.toString()) }
  toString (): string { return `readAll(${JSON.stringify({ ...options(this.filter), ...this.range })})` }
}

class SubscribeCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly filter: Filter, readonly from: number, readonly more: Append[]) {}
  check (): boolean { return true }
  async run (_: Model, r: Real): Promise<void> {
    await checkSubscription(r.db, this.filter, this.from, async () => { await appendAll(r.db, this.more, true, false) }, this.toString())
  }

  toString (): string { return `subscribe(${JSON.stringify({ ...options(this.filter), from: this.from })}, then ${JSON.stringify(this.more)})` }
}

let projections = 0

/** A projection of a category keeps each event's position; async or inline, it keeps those the filter does. */
class ProjectCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly prefix: string, readonly mode: 'async' | 'inline', readonly more: Append[]) {}
  check (): boolean { return true }
  async run (_: Model, r: Real): Promise<void> {
    const view = await r.db.project(defineProjection<string>({
      name: `category-${projections++}`,
      mode: this.mode,
      streams: { prefix: this.prefix },
      handle (event, view) { view.put(String(event.position).padStart(6, '0'), event.stream) }
    }))
    const check = async (when: string): Promise<void> => {
      await view.caughtUp()
      const docs: Array<[number, string]> = []
      for await (const [key, stream] of view.query()) docs.push([Number(key), stream])
      deepStrictEqual(docs, expected(await collect(r.db.readAll()), { prefix: this.prefix }, { backwards: false }).map(e => [e.position, e.stream]), `${this.toString()}, ${when}`)
    }
    await check('caught up')
    await appendAll(r.db, this.more, true, false)
    await check('after more appends')
  }

  toString (): string { return `project(${JSON.stringify(this.prefix)}, ${this.mode}, then ${JSON.stringify(this.more)})` }
}

const commands = [
  fc.tuple(fc.array(appendArb, { minLength: 1, maxLength: 8 }), fc.boolean(), fc.boolean()).map(([list, together, many]) => new AppendCommand(list, together, many)),
  fc.tuple(filterArb, rangeArb).map(([filter, range]) => new ReadCommand(filter, range)),
  fc.tuple(filterArb, fc.integer({ min: 0, max: 40 }), fc.array(appendArb, { maxLength: 4 })).map(([filter, from, more]) => new SubscribeCommand(filter, from, more)),
  fc.tuple(prefixArb, fc.constantFrom<'async' | 'inline'>('async', 'inline'), fc.array(appendArb, { maxLength: 4 })).map(([prefix, mode, more]) => new ProjectCommand(prefix, mode, more)),
  fc.constant(new ReopenCommand<Model>())
]

const levels = backends.filter(b => b.name === 'memory-level' || b.name === 'classic-level')

for (const backend of levels) {
  t.test(`category reads, subscriptions and projections are a filter over readAll, on ${backend.name}`, async t => {
    const defaultFlush = indexSettings.flushEvents
    t.teardown(() => { indexSettings.flushEvents = defaultFlush })
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: 'max' }), fc.integer({ min: 1, max: 12 }), async (cmds, flush) => {
      // a small flush threshold, so that streams' reads cross their blocks on disk and the tail in memory
      indexSettings.flushEvents = flush
      const fixture = await backend.make()
      const real: Real = { fixture, db: await fixture.open() }
      try {
        await fc.asyncModelRun(() => ({ model: {}, real }), cmds)
      } finally {
        await real.db.close()
        await fixture.cleanup()
      }
    }), { numRuns: backend.onDisk ? 25 : 60 })
    t.pass('every category read agreed with the filter')
  })
}

// ---- more streams in one category than are merged ----

for (const backend of levels) {
  t.test(`a category of more than ${MERGE_STREAMS} streams is read by a scan, and agrees too, on ${backend.name}`, async t => {
    const fixture = await backend.make()
    t.teardown(fixture.cleanup)
    let db = await fixture.open()
    const many = MERGE_STREAMS + 100
    // 'c-0000'…: more streams than are merged; 'c-00…' of them 100 (merged); 'hot-' 3 streams of
    // 800 events each (merged, over many reads of 1,024); 'd-' others between them all
    const parts: Array<{ stream: string, events: Array<{ type: string, tags?: string[] }> }> = []
    for (let i = 0; i < many; i++) {
      parts.push({ stream: `c-${String(i).padStart(4, '0')}`, events: [{ type: i % 3 === 0 ? 'A' : 'B', ...(i % 5 === 0 ? { tags: ['x'] } : {}) }] })
      if (i % 2 === 0) parts.push({ stream: `d-${i % 7}`, events: [{ type: 'A' }] })
      parts.push({ stream: `hot-${i % 3}`, events: [{ type: 'B' }, { type: 'A', tags: ['x'] }] })
    }
    for (let i = 0; i < parts.length; i += 200) await db.appendMany(parts.slice(i, i + 200))
    // each stream once more, in another order
    const again = []
    for (let i = many - 1; i >= 0; i -= 3) again.push({ stream: `c-${String(i).padStart(4, '0')}`, events: { type: 'A', tags: ['x'] } })
    await db.appendMany(again)
    const prefixes = ['c-', '', 'c-00', 'c-1', 'hot-', 'hot-1', 'd-', 'nothing']
    const total = (await collect(db.readAll())).length
    const rangeArb: fc.Arbitrary<Range> = fc.record({
      from: fc.option(fc.integer({ min: 0, max: total + 5 }), { nil: undefined }),
      to: fc.option(fc.integer({ min: 0, max: total + 5 }), { nil: undefined }),
      backwards: fc.boolean(),
      limit: fc.option(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1000, max: 3000 })), { nil: undefined })
    }, { requiredKeys: ['backwards'] })
    const filterArb: fc.Arbitrary<Filter> = fc.record({
      prefix: fc.constantFrom(...prefixes),
      types: fc.constantFrom(['A'], ['B'], ['A', 'B']),
      tags: fc.constant(['x'])
    }, { requiredKeys: ['prefix'] })
    // round 1 after reopening: the streams' blocks and summaries on disk
    for (let round = 0; round < 2; round++) {
      const all = await collect(db.readAll())
      // every prefix whole, both ways
      for (const prefix of prefixes) {
        for (const backwards of [false, true]) await checkRead(db, { prefix }, { backwards }, `${prefix} ${backwards ? 'backwards' : 'forwards'}, round ${round}`, all)
      }
      await fc.assert(fc.asyncProperty(filterArb, rangeArb, async (filter, range) => {
        await checkRead(db, filter, range, `readAll(${JSON.stringify({ ...options(filter), ...range })}), round ${round}`, all)
      }), { numRuns: 30 })
      // subscriptions: the scan path and the merged one, catching up then live
      for (const prefix of ['c-', 'c-00', 'hot-']) {
        await checkSubscription(db, { prefix }, round * 500, async () => {
          await db.append('c-9999', { type: 'A' })
          await db.append('hot-9', { type: 'B' })
          await db.append('c-0001', { type: 'B' })
        }, `subscribe ${prefix}, round ${round}`)
      }
      await db.close()
      db = await fixture.open()
    }
    await db.close()
    t.pass('the scan and the merge agreed with the filter')
  })
}

t.test('a prefix is matched as a string, whether the streams are in memory or on disk', async t => {
  const backend = levels[0]!
  const fixture = await backend.make()
  t.teardown(fixture.cleanup)
  let db = await fixture.open()
  await db.append('\u{1F600}x', { type: 'A' })
  await db.append('\u00e91', { type: 'A' })
  const read = async (prefix: string): Promise<string[]> => (await collect(db.readAll({ streams: { prefix } }))).map(e => e.stream)
  t.same(await read('\u{1F600}'), ['\u{1F600}x'])
  t.same(await read('\u00e9'), ['\u00e91'])
  // half a surrogate pair matched streams in memory (String#startsWith) but none on disk (found
  // by UTF-8 bytes, where it encodes as U+FFFD): it is refused, as stream names are
  await t.rejects(read('\uD83D'), TypeError, 'half a surrogate pair: refused')
  t.throws(() => db.subscribe({ streams: { prefix: '\uDE00' } }, () => {}), TypeError)
  await db.close()
  db = await fixture.open()
  t.same(await read('\u{1F600}'), ['\u{1F600}x'], 'on disk')
  t.same(await read('\u00e9'), ['\u00e91'], 'on disk')
  await t.rejects(read('\uD83D'), TypeError, 'half a surrogate pair, streams on disk: refused')
  await db.close()
})
