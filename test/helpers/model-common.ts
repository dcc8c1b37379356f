// What the model tests share (helpers/log-model.ts, store-model.ts, lifecycle-model.ts): the
// in-memory log of events with ids, what an append or an idempotent retry must answer, the
// commands that append (alone, together, again), ranges of reads, and the switches that trace or
// replay a run.
import { deepStrictEqual } from 'node:assert/strict'
import fc from 'fast-check'
import type { Annals, ExpectedRevision, RecordedEvent } from '../../src/index.js'
import { collect } from './backends.js'

/** An event as an append gives it. */
export interface NewEvent { type: string, data: unknown, metadata?: Record<string, unknown>, id?: string }
export interface Append { stream: string, events: NewEvent[], expected: ExpectedRevision }
/** What an append answers: where it landed, or the code it failed with. */
export type Outcome = { revision: number, position: number } | { code: string }

/** An event in a model: the id is '' until the store's generated one is learnt. */
export interface StoredEvent {
  id: string
  stream: string
  revision: number
  position: number
  type: string
  data: unknown
  metadata: Record<string, unknown>
  redacted?: string[]
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Whether an expected revision holds for a stream at `current` (-1: no stream). */
export function expects (x: ExpectedRevision, current: number): boolean {
  return x === 'any' || (x === 'no_stream' && current === -1) || (x === 'stream_exists' && current >= 0) || x === current
}

/**
 * What an append with ids answers before anything else is checked: `undefined` when none of its
 * ids is stored (it is a new append), a code when its ids clash, or the last stored event when
 * it is a retry of events stored as they are (`comparable` says whether a stored event can still
 * be recognised: a sealed event whose subject is shredded cannot).
 */
export function retryOf<E extends StoredEvent> (byId: ReadonlyMap<string, E>, a: Append, comparable: (stored: E) => boolean = () => true): E | { code: string } | undefined {
  const seen = new Set<string>()
  let matches = 0
  for (const e of a.events) {
    if (e.id === undefined) continue
    if (seen.has(e.id)) return { code: 'ANNALS_DUPLICATE_ID' }
    seen.add(e.id)
    if (byId.has(e.id)) matches++
  }
  if (matches === 0) return undefined
  if (matches < a.events.length) return { code: 'ANNALS_DUPLICATE_ID' }
  let last: E | undefined
  for (const e of a.events) {
    const stored = byId.get(e.id!)!
    const same = stored.stream === a.stream && (last === undefined || stored.revision > last.revision) && comparable(stored) &&
      stored.type === e.type && JSON.stringify(stored.data) === JSON.stringify(e.data) &&
      JSON.stringify(stored.metadata) === JSON.stringify(e.metadata ?? {})
    if (!same) return { code: 'ANNALS_DUPLICATE_ID' }
    last = stored
  }
  return last
}

/** Learns the ids the store generated for events written from `before` on (checks they are unique UUIDv7s). */
export function learnIds<E extends StoredEvent> (events: readonly E[], byId: Map<string, E>, written: readonly RecordedEvent[]): void {
  for (const r of written) {
    const e = events[r.position]!
    if (e.id === '') {
      if (!UUID_V7.test(r.id)) throw new Error(`generated id ${r.id} is not a UUIDv7`)
      if (byId.has(r.id)) throw new Error(`generated id ${r.id} is not unique`)
      e.id = r.id
      byId.set(r.id, e)
    }
  }
}

/**
 * The log as a plain list: appends with expected revisions, ids and retries; a shred of the
 * personal field `email` of `Registered` events, whose subject is `who`.
 */
export class LogModel {
  events: StoredEvent[] = []
  byId = new Map<string, StoredEvent>()

  revision (stream: string): number {
    let r = -1
    for (const e of this.events) if (e.stream === stream) r = e.revision
    return r
  }

  /** The outcome the store must give; applies it. Generated ids are learnt from the store. */
  append (a: Append): Outcome {
    // once its subject is shredded, a sealed event's retry can no longer be recognised
    const retry = retryOf(this.byId, a, stored => stored.redacted === undefined)
    if (retry !== undefined) return 'code' in retry ? retry : { revision: retry.revision, position: retry.position }
    const current = this.revision(a.stream)
    if (!expects(a.expected, current)) return { code: 'ANNALS_WRONG_EXPECTED_REVISION' }
    for (const [i, e] of a.events.entries()) {
      const event: StoredEvent = {
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
      if (e.type === 'Registered' && d.who === subject && d.email !== null && d.email !== undefined) {
        e.data = { ...d, email: null }
        e.redacted = ['email']
      }
    }
  }

  learnIds (written: readonly RecordedEvent[]): void {
    learnIds(this.events, this.byId, written)
  }
}

/** An event as the model tests compare it. */
export function shape (e: StoredEvent | RecordedEvent): unknown {
  return [e.id, e.stream, e.revision, e.position, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), e.redacted ?? null]
}

/** What an append gave: its revision and position (its ids are checked by what it wrote), or its code. */
export async function outcome (p: Promise<{ revision: number, position: number }>): Promise<Outcome> {
  return await p.then(r => ({ revision: r.revision, position: r.position }), (err: { code?: string }) => ({ code: err.code ?? String(err) }))
}

/** What the tests' stores have: a database open. */
export interface HasDb { db: Annals }

async function learn (m: LogModel, r: HasDb, before: number): Promise<void> {
  if (m.events.length > before) m.learnIds(await collect(r.db.readAll({ from: before })))
}

export class AppendCommand<M extends LogModel, R extends HasDb> implements fc.AsyncCommand<M, R> {
  constructor (readonly a: Append) {}
  check (): boolean { return true }
  async run (m: M, r: R): Promise<void> {
    const before = m.events.length
    const expected = m.append(this.a)
    deepStrictEqual(await outcome(r.db.append(this.a.stream, this.a.events, { expectedRevision: this.a.expected })), expected, this.toString())
    await learn(m, r, before)
  }

  toString (): string { return `append(${JSON.stringify(this.a)})` }
}

/** Appends fired together land in one batch; each still succeeds or fails as if alone, in order. */
export class ConcurrentCommand<M extends LogModel, R extends HasDb> implements fc.AsyncCommand<M, R> {
  constructor (readonly list: Append[]) {}
  check (): boolean { return true }
  async run (m: M, r: R): Promise<void> {
    const before = m.events.length
    const expected = this.list.map(a => m.append(a))
    const actual = await Promise.all(this.list.map(async a => await outcome(r.db.append(a.stream, a.events, { expectedRevision: a.expected }))))
    deepStrictEqual(actual, expected, this.toString())
    await learn(m, r, before)
  }

  toString (): string { return `concurrently(${JSON.stringify(this.list)})` }
}

/** Appends a stored event again with its id, as a retry would: the original result. */
export class RetryCommand<M extends LogModel, R extends HasDb> implements fc.AsyncCommand<M, R> {
  constructor (readonly k: number, readonly elsewhere: boolean) {}
  check (m: Readonly<M>): boolean { return m.events.length > 0 }
  async run (m: M, r: R): Promise<void> {
    const e = m.events[this.k % m.events.length]!
    const a: Append = { stream: this.elsewhere ? `${e.stream}-elsewhere` : e.stream, events: [{ id: e.id, type: e.type, data: e.data, metadata: e.metadata }], expected: 'no_stream' }
    const before = m.events.length
    deepStrictEqual(await outcome(r.db.append(a.stream, a.events, { expectedRevision: a.expected })), m.append(a), this.toString())
    await learn(m, r, before)
  }

  toString (): string { return `retry(${this.k}, ${this.elsewhere})` }
}

/** Shreds a subject's personal data. */
export class ShredCommand<M extends LogModel, R extends HasDb> implements fc.AsyncCommand<M, R> {
  constructor (readonly subject: string) {}
  check (): boolean { return true }
  async run (m: M, r: R): Promise<void> {
    await r.db.shred(this.subject)
    m.shred(this.subject)
  }

  toString (): string { return `shred(${this.subject})` }
}

/** A range of a read, as readAll and readStream take it. */
export interface Range { from?: number, to?: number, backwards: boolean, limit?: number }

/** The events a read of range `o` gives, `value` being what the range bounds (position or revision). */
export function within<E> (o: Range, value: (e: E) => number, events: readonly E[]): E[] {
  const low = (o.backwards ? o.to : o.from) ?? 0
  const high = (o.backwards ? o.from : o.to) ?? Infinity
  let want = events.filter(e => value(e) >= low && value(e) <= high)
  if (o.backwards) want.reverse()
  if (o.limit !== undefined) want = want.slice(0, o.limit)
  return want
}

const bound = fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined })

/** Ranges of reads, up to `limit` events. */
export const rangeArb = (limit: number): fc.Arbitrary<Range> =>
  fc.record({ from: bound, to: bound, backwards: fc.boolean(), limit: fc.option(fc.integer({ min: 0, max: limit }), { nil: undefined }) }, { requiredKeys: ['backwards'] })

/** What appends are made of: the event types, the pool of ids and of subjects, the expected revisions. */
export interface AppendShape {
  streams: readonly string[]
  types: readonly string[]
  ids: readonly string[]
  /** the subjects of `Registered` events, whose `email` is personal */
  subjects: readonly string[]
  /** the longest string in data */
  maxLength: number
  expected: fc.Arbitrary<ExpectedRevision>
}

/** Appends of one to four events: plain ones of `types` (3 in 4), and `Registered` ones with a personal field. */
export function appendArb (o: AppendShape): fc.Arbitrary<Append> {
  const id = fc.option(fc.constantFrom(...o.ids), { nil: undefined, freq: 3 })
  const plain = fc.record({
    type: fc.constantFrom(...o.types),
    data: fc.oneof(fc.record({ n: fc.integer({ min: -5, max: 5 }) }), fc.string({ maxLength: o.maxLength }), fc.constant(null)),
    metadata: fc.option(fc.record({ by: fc.constantFrom('a', 'b') }), { nil: undefined }),
    id
  }, { requiredKeys: ['type', 'data'] })
  const personal = fc.record({
    type: fc.constant('Registered'),
    data: fc.record({ who: fc.constantFrom(...o.subjects), email: fc.string({ minLength: 1, maxLength: o.maxLength + 2 }) }),
    id
  }, { requiredKeys: ['type', 'data'] })
  const event: fc.Arbitrary<NewEvent> = fc.oneof({ arbitrary: plain, weight: 3 }, { arbitrary: personal, weight: 1 })
  return fc.record({ stream: fc.constantFrom(...o.streams), events: fc.array(event, { minLength: 1, maxLength: 4 }), expected: o.expected })
}

/** With MODEL_TRACE=1, each command is written to stderr as it starts. */
export function traced<M extends object, R> (list: Array<fc.AsyncCommand<M, R>>): Array<fc.AsyncCommand<M, R>> {
  if (process.env.MODEL_TRACE !== '1') return list
  return list.map(c => ({
    check: (m: Readonly<M>) => c.check(m),
    run: async (m: M, r: R) => { process.stderr.write(`${c.toString()}\n`); await c.run(m, r) },
    toString: () => c.toString()
  }))
}

/** MODEL_SEED and MODEL_PATH (the seed and path fast-check prints on failure) replay a run. */
export function replay (): { seed?: number, path?: string, endOnFailure?: boolean } {
  const seed = process.env.MODEL_SEED
  if (seed === undefined || seed === '') return {}
  const path = process.env.MODEL_PATH
  return { seed: Number(seed), ...(path === undefined || path === '' ? {} : { path }), endOnFailure: true }
}
