// A model test of consistency beyond one stream: random interleavings of appends to several
// streams at once (appendMany, with expected revisions) and conditional appends (DCB queries of
// types and tags, with and without `after`, many of them deciding on a `read` first) from many
// callers, fired together (so that they land in one group-commit batch) and one after another,
// retried with the ids the store gave, read by query, across reopens, against a sequential model.
//
// The store takes appends in the order they are called (log.ts hands them over in that order,
// and the writer checks each against everything before it), so the model replays every group
// in call order and predicts each outcome: every accepted append gets the positions that order
// gives (so the store's positions replay the model in its order) and breaks no condition and no
// expectation it was checked against; every rejected one fails for a reason the model finds
// (its code; for a condition the first conflicting position; for an expectation the stream,
// expected and actual revision of the first part that fails); and every read made while a group
// runs sees the log up to a head where no append is partly written.
import { deepStrictEqual, ok } from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import type { Annals, AppendResult, ExpectedRevision, QueryItem, RecordedEvent } from '../src/index.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import { backends, collect, type Fixture } from './helpers/backends.js'
import { ReopenCommand } from './helpers/commands.js'

const TYPES = ['A', 'B', 'C']
const TAGS = ['a', 'b', 'c', 'd', 'e']
const STREAMS = ['s0', 's1', 's2', 't0']
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

// ---- what the commands are made of, before the model's state resolves them ----

interface EventSpec { type: string, data: number, tags?: string[], givenId: boolean }
/** an expected revision, or the stream's revision when the command starts plus `delta` */
type ExpectedSpec = 'any' | 'no_stream' | 'stream_exists' | { delta: number }
interface PartSpec { stream: string, events: EventSpec[], expected: ExpectedSpec }
/** a caller: appends parts, with a condition on a query past the head when the command starts plus `delta` (or past nothing) */
interface AppendSpec {
  kind: 'append'
  parts: PartSpec[]
  condition?: { query: QueryItem[], after?: number }
  /** through `append` rather than `appendMany` (one part only) */
  single: boolean
}
/** a caller that reads by a query first, then appends on the condition that nothing matching came since */
interface DecideSpec { kind: 'decide', parts: PartSpec[], query: QueryItem[], limit?: number, single: boolean }
/** a caller that sends an append accepted earlier again: exactly, with changed data, or with a new event too */
interface RetrySpec { kind: 'retry', k: number, change: 'none' | 'data' | 'more' }
/** a caller that reads while the others append */
interface ReaderSpec { kind: 'read', query: QueryItem[] }
interface ReadAllReaderSpec { kind: 'readAll', tags?: string[], types?: string[] }
/** with `wait`, a caller fired together with others starts that many turns of the event loop late: after some batches */
type CallerSpec = (AppendSpec | DecideSpec | RetrySpec | ReaderSpec | ReadAllReaderSpec) & { wait?: number }

// ---- what is sent ----

interface SentEvent { id?: string, type: string, data: number, tags?: string[] }
interface SentPart { stream: string, events: SentEvent[], expectedRevision: ExpectedRevision }
interface Request { parts: SentPart[], condition?: { failIfEventsMatch: QueryItem[], after?: number }, single: boolean }

type Outcome = { results: AppendResult[] } | { code: string, position?: number, stream?: string, expected?: unknown, actual?: number }
type Reason = { code: 'ANNALS_DUPLICATE_ID' } | { code: 'ANNALS_APPEND_CONDITION_FAILED', position: number } |
{ code: 'ANNALS_WRONG_EXPECTED_REVISION', stream: string, expected: ExpectedRevision, actual: number }
/** the results an append must give (`retry`: those of the original, nothing written), or the reasons it may be refused for */
type Prediction = { results: Array<{ revision: number, position: number, ids: Array<string | undefined> }>, retry: boolean } | { reasons: Reason[] }

// ---- the model ----

interface ModelEvent { id: string, stream: string, revision: number, position: number, type: string, data: number, tags: string[] | undefined }

/** tags as the store keeps them: each once, in the order given; undefined when none */
function normalTags (tags: readonly string[] | undefined): string[] | undefined {
  const once = [...new Set(tags ?? [])]
  return once.length === 0 ? undefined : once
}

function matchesItem (item: QueryItem, e: { type: string, tags?: string[] | undefined }): boolean {
  return (item.types === undefined || item.types.includes(e.type)) && (item.tags ?? []).every(tag => e.tags?.includes(tag) === true)
}

function matches (query: readonly QueryItem[], e: { type: string, tags?: string[] | undefined }): boolean {
  return query.length === 0 || query.some(item => matchesItem(item, e))
}

class Model {
  events: ModelEvent[] = []
  byId = new Map<string, ModelEvent>()
  /** appends accepted so far, as sent, with their results: what retries send again */
  accepted: Array<{ request: Request, results: AppendResult[] }> = []
  /** the first and last position of each accepted append */
  spans: Array<[number, number]> = []
  nextId = 0

  get head (): number { return this.events.length - 1 }

  revision (stream: string): number {
    let r = -1
    for (const e of this.events) if (e.stream === stream) r = e.revision
    return r
  }

  /** The events matching a query past `after`, up to `upTo`, at most `limit` of them. */
  read (query: readonly QueryItem[], after = -1, limit = Infinity, upTo = Infinity): ModelEvent[] {
    const out: ModelEvent[] = []
    for (const e of this.events) {
      if (out.length >= limit) break
      if (e.position > after && e.position <= upTo && matches(query, e)) out.push(e)
    }
    return out
  }

  /** What the store must answer to `r` now: the results, or the reasons it may give for refusing it. */
  predict (r: Request): Prediction {
    const retried = this.#retried(r)
    if (retried !== undefined) return retried
    const reasons: Reason[] = []
    const c = r.condition
    if (c !== undefined) {
      const conflict = this.read(c.failIfEventsMatch, c.after ?? -1, 1)[0]
      if (conflict !== undefined) reasons.push({ code: 'ANNALS_APPEND_CONDITION_FAILED', position: conflict.position })
    }
    const mine = new Map<string, number>()
    const results: Array<{ revision: number, position: number, ids: Array<string | undefined> }> = []
    let position = this.head
    for (const part of r.parts) {
      const current = mine.get(part.stream) ?? this.revision(part.stream)
      const x = part.expectedRevision
      if (!(x === 'any' || (x === 'no_stream' && current === -1) || (x === 'stream_exists' && current >= 0) || x === current)) {
        reasons.push({ code: 'ANNALS_WRONG_EXPECTED_REVISION', stream: part.stream, expected: x, actual: current })
        break
      }
      mine.set(part.stream, current + part.events.length)
      position += part.events.length
      results.push({ revision: current + part.events.length, position, ids: part.events.map(e => e.id) })
    }
    return reasons.length > 0 ? { reasons } : { results, retry: false }
  }

  /** As the store answers a retry: every event already stored as sent gives the original results. */
  #retried (r: Request): Prediction | undefined {
    const duplicate: Prediction = { reasons: [{ code: 'ANNALS_DUPLICATE_ID' }] }
    const seen = new Set<string>()
    let found = 0
    let total = 0
    for (const part of r.parts) {
      for (const e of part.events) {
        total++
        if (e.id === undefined) continue
        if (seen.has(e.id)) return duplicate
        seen.add(e.id)
        if (this.byId.has(e.id)) found++
      }
    }
    if (found === 0) return undefined
    if (found < total) return duplicate
    const results = []
    for (const part of r.parts) {
      let last: ModelEvent | undefined
      for (const e of part.events) {
        const at = this.byId.get(e.id!)!
        const same = at.stream === part.stream && at.type === e.type && at.data === e.data &&
          JSON.stringify(at.tags) === JSON.stringify(normalTags(e.tags)) && (last === undefined || at.revision > last.revision)
        if (!same) return duplicate
        last = at
      }
      results.push({ revision: last!.revision, position: last!.position, ids: part.events.map(e => e.id) })
    }
    return { results, retry: true }
  }

  /** Adds what the store wrote for an accepted append (its ids, generated ones included). */
  apply (r: Request, results: AppendResult[]): void {
    const first = this.events.length
    r.parts.forEach((part, k) => {
      const current = results[k]!.revision - part.events.length
      part.events.forEach((e, i) => {
        const event: ModelEvent = {
          id: results[k]!.ids[i]!, stream: part.stream, revision: current + 1 + i, position: this.events.length, type: e.type, data: e.data, tags: normalTags(e.tags)
        }
        this.events.push(event)
        this.byId.set(event.id, event)
      })
    })
    this.spans.push([first, this.events.length - 1])
    this.accepted.push({ request: r, results })
  }

  /** Whether `head` cuts no accepted append in two: a head a read can have seen. */
  whole (head: number): boolean {
    return this.spans.every(([first, last]) => head < first || head >= last)
  }
}

// ---- running callers ----

interface Real { fixture: Fixture, db: Annals }

function resolveExpected (x: ExpectedSpec, revision: number): ExpectedRevision {
  return typeof x === 'string' ? x : Math.max(-1, revision + x.delta)
}

/** The request of an append or decide caller, its expectations resolved against the model as the command starts. */
function resolveParts (m: Model, parts: PartSpec[]): SentPart[] {
  return parts.map(p => ({
    stream: p.stream,
    expectedRevision: resolveExpected(p.expected, m.revision(p.stream)),
    events: p.events.map(e => ({
      ...(e.givenId ? { id: `g${m.nextId++}` } : {}),
      type: e.type,
      data: e.data,
      ...(e.tags === undefined ? {} : { tags: e.tags })
    }))
  }))
}

/** A retry: an accepted append sent again with the ids it was given, changed as asked. */
function retryRequest (m: Model, spec: RetrySpec): Request | undefined {
  if (m.accepted.length === 0) return undefined
  const { request, results } = m.accepted[spec.k % m.accepted.length]!
  const parts = request.parts.map((p, k) => ({ ...p, events: p.events.map((e, i) => ({ ...e, id: results[k]!.ids[i]! })) }))
  if (spec.change === 'data') parts[0]!.events[0] = { ...parts[0]!.events[0]!, data: parts[0]!.events[0]!.data + 100 }
  if (spec.change === 'more') parts[0]!.events.push({ id: `g${m.nextId++}`, type: 'A', data: 0 })
  return { ...request, parts }
}

async function send (db: Annals, r: Request): Promise<Outcome> {
  const condition = r.condition === undefined ? {} : { condition: r.condition }
  const sent = r.single
    ? db.append(r.parts[0]!.stream, r.parts[0]!.events, { expectedRevision: r.parts[0]!.expectedRevision, ...condition }).then(x => [x])
    : db.appendMany(r.parts, condition)
  return await sent.then(results => ({ results }), (err: Record<string, unknown>) => {
    if (typeof err.code !== 'string') throw err
    return { code: err.code, position: err.position as number | undefined, stream: err.stream as string | undefined, expected: err.expected, actual: err.actual as number | undefined }
  })
}

/** What a caller did, for the model to check once the command is over. */
type Trace =
  | { kind: 'append', request: Request, outcome: Outcome }
  | { kind: 'read', query: QueryItem[], limit?: number, events: RecordedEvent[], head: number }
  | { kind: 'readAll', options: { tags?: string[], types?: string[] }, events: RecordedEvent[] }

/**
 * Runs the callers, together or one after another. Appends are traced in the order they were
 * called: the order the store takes them in.
 */
async function runCallers (m: Model, r: Real, specs: CallerSpec[], together: boolean): Promise<Trace[]> {
  const traces: Trace[] = []
  const call = async (request: Request): Promise<void> => {
    const trace: Trace = { kind: 'append', request, outcome: { code: 'pending' } }
    traces.push(trace)
    trace.outcome = await send(r.db, request)
  }
  // resolved before any runs, against the state as the command starts
  const runs = specs.map(spec => {
    switch (spec.kind) {
      case 'append': {
        const request: Request = {
          parts: resolveParts(m, spec.parts),
          single: spec.single && spec.parts.length === 1,
          ...(spec.condition === undefined
            ? {}
            : { condition: { failIfEventsMatch: spec.condition.query, ...(spec.condition.after === undefined ? {} : { after: Math.max(-1, m.head + spec.condition.after) }) } })
        }
        return async () => { await call(request) }
      }
      case 'decide': {
        const parts = resolveParts(m, spec.parts)
        return async () => {
          const { events, head } = await r.db.read({ query: spec.query, ...(spec.limit === undefined ? {} : { limit: spec.limit }) })
          traces.push({ kind: 'read', query: spec.query, ...(spec.limit === undefined ? {} : { limit: spec.limit }), events, head })
          await call({ parts, single: spec.single && parts.length === 1, condition: { failIfEventsMatch: spec.query, after: head } })
        }
      }
      case 'retry': {
        const request = retryRequest(m, spec)
        return async () => { if (request !== undefined) await call(request) }
      }
      case 'read':
        return async () => {
          const { events, head } = await r.db.read({ query: spec.query })
          traces.push({ kind: 'read', query: spec.query, events, head })
        }
      case 'readAll': {
        const options = { ...(spec.tags === undefined ? {} : { tags: spec.tags }), ...(spec.types === undefined ? {} : { types: spec.types }) }
        return async () => { traces.push({ kind: 'readAll', options, events: await collect(r.db.readAll(options)) }) }
      }
    }
    throw new Error('unreachable')
  })
  const turns = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve)) }
  if (together) await Promise.all(runs.map(async (run, i) => { await turns(specs[i]!.wait ?? 0); await run() }))
  else for (const run of runs) await run()
  return traces
}

function shape (e: ModelEvent | RecordedEvent): unknown[] {
  return [e.id, e.stream, e.revision, e.position, e.type, e.data, e.tags ?? null]
}

/** Replays the appends in the order they were called, each against the model as it stands, then checks the reads. */
function check (m: Model, traces: Trace[], what: string): void {
  const before = m.head
  for (const trace of traces) {
    if (trace.kind !== 'append') continue
    const predicted = m.predict(trace.request)
    const actual = trace.outcome
    const at = `${what}: ${JSON.stringify(trace.request)} gave ${JSON.stringify(actual)}, the model ${JSON.stringify(predicted)}`
    if ('results' in predicted) {
      ok('results' in actual, at)
      deepStrictEqual(actual.results.map(x => [x.revision, x.position]), predicted.results.map(x => [x.revision, x.position]), at)
      actual.results.forEach((x, k) => {
        deepStrictEqual(x.ids.length, predicted.results[k]!.ids.length, at)
        x.ids.forEach((id, i) => {
          const given = predicted.results[k]!.ids[i]
          if (given !== undefined) deepStrictEqual(id, given, at)
          else ok(UUID_V7.test(id) && !m.byId.has(id), `${at}: a generated id, new`)
        })
      })
      if (!predicted.retry) m.apply(trace.request, actual.results)
    } else {
      ok('code' in actual, at)
      const reason = predicted.reasons.find(x => x.code === actual.code)
      ok(reason !== undefined, at)
      if (reason.code === 'ANNALS_APPEND_CONDITION_FAILED') deepStrictEqual(actual.position, reason.position, at)
      if (reason.code === 'ANNALS_WRONG_EXPECTED_REVISION') deepStrictEqual([actual.stream, actual.expected, actual.actual], [reason.stream, reason.expected, reason.actual], at)
    }
  }
  // the reads made during the command: the log up to a head between two appends, never within one
  const heads = [before, ...m.spans.map(([, last]) => last).filter(last => last > before)]
  for (const trace of traces) {
    if (trace.kind === 'read') {
      const at = `${what}: read(${JSON.stringify(trace.query)}, limit ${String(trace.limit)}) at head ${trace.head}`
      ok(trace.head >= before && trace.head <= m.head && m.whole(trace.head), `${at}: a head where nothing is partly written`)
      deepStrictEqual(trace.events.map(shape), m.read(trace.query, -1, trace.limit, trace.head).map(shape), at)
    } else if (trace.kind === 'readAll') {
      const query = [{ ...trace.options }]
      const got = JSON.stringify(trace.events.map(shape))
      ok(heads.some(head => JSON.stringify(m.read(query, -1, Infinity, head).map(shape)) === got),
        `${what}: readAll(${JSON.stringify(trace.options)}) gave ${got}: the log up to no head between appends`)
    }
  }
}

class CallersCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly specs: CallerSpec[], readonly together: boolean) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    check(m, await runCallers(m, r, this.specs, this.together), this.toString())
  }

  toString (): string { return `${this.together ? 'together' : 'in turn'}(${JSON.stringify(this.specs)})` }
}

class ReadCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly query: QueryItem[], readonly after: number | undefined, readonly limit: number | undefined) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const after = this.after === undefined ? undefined : Math.max(-1, m.head + this.after)
    const { events, head } = await r.db.read({ query: this.query, ...(after === undefined ? {} : { after }), ...(this.limit === undefined ? {} : { limit: this.limit }) })
    deepStrictEqual(head, m.head, this.toString())
    deepStrictEqual(events.map(shape), m.read(this.query, after, this.limit).map(shape), this.toString())
  }

  toString (): string { return `read(${JSON.stringify(this.query)}, after head${String(this.after)}, limit ${String(this.limit)})` }
}

interface Range { from?: number, to?: number, backwards: boolean, limit?: number }

class ReadAllCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly filter: { tags?: string[], types?: string[] }, readonly range: Range) {}
  check (): boolean { return true }
  async run (m: Model, r: Real): Promise<void> {
    const o = this.range
    const low = (o.backwards ? o.to : o.from) ?? 0
    const high = (o.backwards ? o.from : o.to) ?? Infinity
    let want = m.read([this.filter]).filter(e => e.position >= low && e.position <= high)
    if (o.backwards) want.reverse()
    if (o.limit !== undefined) want = want.slice(0, o.limit)
    deepStrictEqual((await collect(r.db.readAll({ ...this.filter, ...o }))).map(shape), want.map(shape), this.toString())
  }

  toString (): string { return `readAll(${JSON.stringify({ ...this.filter, ...this.range })})` }
}

// ---- arbitraries ----

const queryItemArb: fc.Arbitrary<QueryItem> = fc.record({
  types: fc.subarray(TYPES, { minLength: 1 }),
  tags: fc.subarray(TAGS, { minLength: 1, maxLength: 2 })
}, { requiredKeys: [] })
const queryArb = fc.array(queryItemArb, { maxLength: 3 })
const eventArb: fc.Arbitrary<EventSpec> = fc.record({
  type: fc.constantFrom(...TYPES),
  data: fc.integer({ min: 0, max: 99 }),
  // repeated tags are kept once, no tags at all are none
  tags: fc.option(fc.array(fc.constantFrom(...TAGS), { maxLength: 3 }), { nil: undefined }),
  givenId: fc.boolean()
}, { requiredKeys: ['type', 'data', 'givenId'] })
const expectedArb: fc.Arbitrary<ExpectedSpec> = fc.oneof(
  { arbitrary: fc.constant<ExpectedSpec>('any'), weight: 2 },
  fc.constantFrom<ExpectedSpec>('no_stream', 'stream_exists'),
  { arbitrary: fc.integer({ min: -1, max: 1 }).map(delta => ({ delta })), weight: 3 }
)
const partArb: fc.Arbitrary<PartSpec> = fc.record({
  stream: fc.constantFrom(...STREAMS),
  events: fc.array(eventArb, { minLength: 1, maxLength: 3 }),
  expected: expectedArb
})
const partsArb = fc.array(partArb, { minLength: 1, maxLength: 3 })
const appendArb: fc.Arbitrary<AppendSpec> = fc.record({
  kind: fc.constant('append' as const),
  parts: partsArb,
  condition: fc.option(fc.record({ query: queryArb, after: fc.option(fc.integer({ min: -3, max: 2 }), { nil: undefined }) }, { requiredKeys: ['query'] }), { nil: undefined }),
  single: fc.boolean()
}, { requiredKeys: ['kind', 'parts', 'single'] })
const decideArb: fc.Arbitrary<DecideSpec> = fc.record({
  kind: fc.constant('decide' as const),
  parts: partsArb,
  query: queryArb,
  limit: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  single: fc.boolean()
}, { requiredKeys: ['kind', 'parts', 'query', 'single'] })
const retryArb: fc.Arbitrary<RetrySpec> = fc.record({ kind: fc.constant('retry' as const), k: fc.nat(), change: fc.constantFrom<RetrySpec['change']>('none', 'none', 'data', 'more') })
const readerArb: fc.Arbitrary<CallerSpec> = fc.oneof(
  fc.record({ kind: fc.constant('read' as const), query: queryArb }),
  fc.record({
    kind: fc.constant('readAll' as const),
    tags: fc.option(fc.subarray(TAGS, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    types: fc.option(fc.subarray(TYPES, { minLength: 1 }), { nil: undefined })
  }, { requiredKeys: ['kind'] })
)
const callerArb: fc.Arbitrary<CallerSpec> = fc.tuple(fc.oneof(
  { arbitrary: appendArb, weight: 4 },
  { arbitrary: decideArb, weight: 4 },
  { arbitrary: retryArb, weight: 1 },
  { arbitrary: readerArb, weight: 1 }
), fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined, freq: 2 })).map(([spec, wait]) => wait === undefined ? spec : { ...spec, wait })
/** many callers deciding on the same query: a claim on one name, a place in one course */
const contendArb: fc.Arbitrary<CallerSpec[]> = fc.tuple(queryArb, fc.array(partsArb, { minLength: 8, maxLength: 24 })).map(([query, list]) =>
  list.map(parts => ({ kind: 'decide' as const, parts, query, single: false })))

const bound = fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined })
const rangeArb: fc.Arbitrary<Range> = fc.record({ from: bound, to: bound, backwards: fc.boolean(), limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }) }, { requiredKeys: ['backwards'] })
const filterArb = fc.record({
  tags: fc.subarray(TAGS, { minLength: 1, maxLength: 2 }),
  types: fc.subarray(TYPES, { minLength: 1 })
}, { requiredKeys: [] })

const commands = [
  fc.tuple(fc.array(callerArb, { minLength: 2, maxLength: 12 }), fc.constant(true)).map(([specs, together]) => new CallersCommand(specs, together)),
  fc.tuple(fc.array(callerArb, { minLength: 1, maxLength: 4 }), fc.constant(false)).map(([specs, together]) => new CallersCommand(specs, together)),
  contendArb.map(specs => new CallersCommand(specs, true)),
  fc.tuple(queryArb, fc.option(fc.integer({ min: -4, max: 2 }), { nil: undefined }), fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }))
    .map(([query, after, limit]) => new ReadCommand(query, after, limit)),
  fc.tuple(filterArb, rangeArb).map(([filter, range]) => new ReadAllCommand(filter, range)),
  fc.constant(new ReopenCommand<Model>())
]

for (const backend of backends.filter(b => b.name === 'memory-level' || b.name === 'classic-level')) {
  t.test(`appends to many streams and conditional appends behave as the model on ${backend.name}`, async t => {
    const defaultFlush = indexSettings.flushEvents
    t.teardown(() => { indexSettings.flushEvents = defaultFlush })
    await fc.assert(fc.asyncProperty(fc.commands(commands, { maxCommands: 25, size: 'max' }), fc.integer({ min: 1, max: 12 }), async (cmds, flush) => {
      // a small flush threshold, so that reads cross the streams' blocks on disk and the tail in memory
      indexSettings.flushEvents = flush
      const fixture = await backend.make()
      const real: Real = { fixture, db: await fixture.open() }
      try {
        await fc.asyncModelRun(() => ({ model: new Model(), real }), cmds)
      } finally {
        await real.db.close()
        await fixture.cleanup()
      }
    }), { numRuns: backend.onDisk ? 60 : 150 })
    t.pass('every run agreed with the model')
  })
}
