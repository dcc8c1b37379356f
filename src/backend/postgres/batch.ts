// A batch of the PostgreSQL writer, built in JS from the appends of one group: each append
// checked on its own (expected revisions, retries by id, its condition, the append hook) against
// what is known of the stored state, then its events laid out as the columns the functions take
// (functions.ts). What is known comes from the writer's cache (checked afterwards, under the
// lock, by the one-call path) or from `prepare`, under the lock (see writer.ts).
import { AnnalsError } from '../../errors.js'
import type { AppendResult } from '../../log/types.js'
import type { WriteOp } from '../../storage/storage.js'
import { checkCondition, checkExpected, retriedMany, storedEvents, type Placed, type PlacedMeta } from '../append-checks.js'
import { LIFECYCLE_STREAM, type AppendHook, type AppendManyRequest, type AppendPart, type ReadyEvent, type StreamRule } from '../backend.js'
import type { Queued } from '../group-commit.js'
import { lifecycleChange, streamDeleted } from '../lifecycle.js'
import type { Rules } from '../rules.js'
import { boolArray, byteaArray, int4Array, int8Array, textArray } from './binary-arrays.js'
import { readySum } from './rows.js'

/** One queued append (one stream, or several at once). */
export interface Request extends Queued<AppendResult[]> {
  append: AppendManyRequest
  /** when it joined the queue (performance.now()), for db.stats() */
  at: number
}

/** What the checks of a batch know of the stored state. */
export interface Known {
  /** each stream's revision before the batch */
  revision: (stream: string) => number
  /** stored events with the ids the group gives */
  ids: ReadonlyMap<string, Placed>
  /** the first stored position past its `after` that breaks a request's condition, by request */
  conflicts: ReadonlyMap<Request, number>
}

/** How an append of the group ends, once the batch is written (or not). */
export interface Outcome {
  request: Request
  results?: AppendResult[]
  /** the stream of each of `results` (of an append of this batch) */
  streams?: string[]
  /** for a retry: whether its results are those of an append of this very batch */
  pending?: boolean
  error?: unknown
}

/** The ids and streams of a group, for the checks' reads. */
export function groupKeys (group: readonly Request[]): { streams: string[], ids: string[] } {
  const streams = new Set<string>()
  const ids = new Set<string>()
  for (const { append } of group) {
    // a change to a stream's life reads its stream, and writes to `$streams`
    if (append.lifecycle !== undefined) {
      if ('stream' in append.lifecycle) streams.add(append.lifecycle.stream)
      streams.add(LIFECYCLE_STREAM)
    }
    for (const part of append.parts) {
      streams.add(part.stream)
      // an id PostgreSQL cannot hold is refused by the checks, and never looked for
      for (const e of part.events) if (e.indexed && !e.fresh && !e.id.includes('\u0000')) ids.add(e.id)
    }
  }
  return { streams: [...streams], ids: [...ids] }
}

/** PostgreSQL's text holds no NUL: ids and types with one are refused on this backend. */
function checkText (e: ReadyEvent, index: number): void {
  if (e.id.includes('\u0000') || e.type.includes('\u0000')) {
    throw new AnnalsError('ANNALS_INVALID_EVENT', `Event ${index} (${e.type.replaceAll('\u0000', '\\u0000')}) has NUL (\\u0000) in its id or type, which PostgreSQL's text cannot hold`)
  }
}

export class Batch {
  // the events' columns, in position order
  readonly stream: string[] = []
  readonly revision: number[] = []
  readonly id: string[] = []
  readonly type: string[] = []
  readonly version: number[] = []
  /** 1-based bounds of each event's tags in `tags` (from > to: none) */
  readonly tagFrom: number[] = []
  readonly tagTo: number[] = []
  readonly data: Buffer[] = []
  readonly metadata: Array<Buffer | null> = []
  readonly sealed: boolean[] = []
  readonly digest: Array<Buffer | null> = []
  readonly sum: number[] = []
  readonly tags: string[] = []
  /** what to do to the rules in force once the batch is written (changes to streams' lives) */
  readonly ruleChanges: Array<() => void> = []
  /** the 1-based row of each entry of `tags` */
  readonly tagRows: number[] = []
  /** each stream written: its revision after the batch, and the offset of its last event */
  readonly written = new Map<string, { revision: number, last: number }>()
  readonly outcomes: Outcome[] = []
  /** the writes of the append hook, in order */
  readonly writes: WriteOp[] = []
  /** whether the hook took part (an append joined the batch while it was set) */
  hooked = false
  /**
   * Streams a part of the batch appends to with an expected revision: their revisions must be
   * the ones assumed. Those of the other streams written ("loose") may be found further on by
   * the writer's one call (see {@link looseArgs}).
   */
  readonly #strict = new Set<string>()
  readonly #ready: ReadyEvent[] = []
  readonly #placedIds = new Map<string, Placed>()
  readonly #placedMeta: PlacedMeta[] = []
  /** streams' rules as this batch changes them */
  readonly #rulesNow = new Map<string, StreamRule>()

  /** Events in the batch. */
  get count (): number {
    return this.stream.length
  }

  /**
   * Checks the appends of a group and lays out those that pass, from position `first` at
   * `time` (the one-call path builds from 0 and learns both when it writes; it has no hook),
   * under `rules` (the rules of streams' lives in force).
   */
  static async build (group: readonly Request[], known: Known, first: number, time: number, hook: AppendHook | undefined, rules: Rules): Promise<Batch> {
    const batch = new Batch()
    for (const request of group) await batch.#add(request, known, first, time, hook, rules)
    if (batch.hooked && hook?.finish !== undefined) batch.writes.push(...hook.finish())
    return batch
  }

  async #add (request: Request, known: Known, first: number, time: number, hook: AppendHook | undefined, rules: Rules): Promise<void> {
    const r = request.append
    let parts: readonly AppendPart[] = r.parts
    try {
      const again = retriedMany(r.parts, known.ids, this.#placedIds)
      if (again !== undefined) {
        this.outcomes.push({ request, results: again.results, pending: again.pending })
        return
      }
      let index = 0
      for (const part of r.parts) for (const e of part.events) checkText(e, index++)
      if (r.condition !== undefined) checkCondition(r.condition, known.conflicts.get(request), this.#placedMeta, first)
      // each part's expectation, the parts before it of the same append counted
      const currents: number[] = []
      const mine = new Map<string, number>()
      const revisionOf = (stream: string): number => mine.get(stream) ?? this.written.get(stream)?.revision ?? known.revision(stream)
      for (const part of r.parts) if (part.expected !== 'any') this.#strict.add(part.stream)
      for (const part of r.parts) {
        const current = revisionOf(part.stream)
        if ((this.#rulesNow.get(part.stream) ?? rules.stream(part.stream))?.tombstoned === true) throw streamDeleted(part.stream)
        checkExpected(part.stream, part.expected, current)
        currents.push(current)
        mine.set(part.stream, current + part.events.length)
      }
      // a change to a stream's life: checked against the stream as this batch leaves it, and
      // recorded by a system event in `$streams` (the append's one part)
      const ruleOps: WriteOp[] = []
      let applyRule: (() => void) | undefined
      if (r.lifecycle !== undefined) {
        const { apply, event } = lifecycleChange(rules, r.lifecycle, ruleOps, this.#rulesNow, revisionOf)
        applyRule = apply
        parts = [...r.parts, { stream: LIFECYCLE_STREAM, events: [event], expected: 'any' }]
        currents.push(revisionOf(LIFECYCLE_STREAM))
      }
      // the hook (inline projections) takes part last: if it throws, nothing was added yet
      if (hook !== undefined) {
        const extra = await hook.append(storedEvents(parts, currents, first + this.count, time))
        this.hooked = true
        this.writes.push(...extra)
      }
      this.writes.push(...ruleOps)
      if (applyRule !== undefined) this.ruleChanges.push(applyRule)
      const results: AppendResult[] = []
      const streams: string[] = []
      parts.forEach((part, k) => {
        const current = currents[k]!
        for (let i = 0; i < part.events.length; i++) this.#place(part.stream, current + 1 + i, part.events[i]!, first)
        this.written.set(part.stream, { revision: current + part.events.length, last: this.count - 1 })
        results.push({ revision: current + part.events.length, position: first + this.count - 1, ids: part.events.map(e => e.id) })
        streams.push(part.stream)
      })
      this.outcomes.push({ request, results, streams })
    } catch (err) {
      this.outcomes.push({ request, error: err })
    }
  }

  #place (stream: string, revision: number, e: ReadyEvent, first: number): void {
    const row = this.count + 1
    this.stream.push(stream)
    this.revision.push(revision)
    this.id.push(e.id)
    this.type.push(e.type)
    this.version.push(e.version)
    this.tagFrom.push(this.tags.length + 1)
    if (e.tags !== undefined) {
      for (const tag of e.tags) {
        this.tags.push(tag)
        this.tagRows.push(row)
      }
    }
    this.tagTo.push(this.tags.length)
    this.data.push(e.data)
    this.metadata.push(e.metadata ?? null)
    this.sealed.push(e.sealed)
    this.digest.push(e.digest ?? null)
    this.sum.push(readySum(stream, revision, e))
    this.#ready.push(e)
    this.#placedMeta.push({ type: e.type, tags: e.tags })
    // a fresh id cannot come again in this batch: only given ones are looked for
    if (e.indexed && !e.fresh) {
      this.#placedIds.set(e.id, {
        stream, revision, position: first + row - 1, type: e.type, data: e.data, metadata: e.metadata, tags: e.tags, digest: e.digest ?? EMPTY
      })
    }
  }

  /**
   * The events' columns and the streams written, as the functions take them (after their first
   * arguments), as binary arrays; `sums` in place of the checksums (see {@link looseArgs}).
   */
  eventArgs (sums: number[] = this.sum): unknown[] {
    const streams = [...this.written]
    return [
      textArray(this.stream), int8Array(this.revision), textArray(this.id), textArray(this.type), int4Array(this.version),
      int4Array(this.tagFrom), int4Array(this.tagTo), byteaArray(this.data), byteaArray(this.metadata),
      boolArray(this.sealed), byteaArray(this.digest), int4Array(sums), textArray(this.tags), int4Array(this.tagRows),
      textArray(streams.map(([s]) => s)), int8Array(streams.map(([, w]) => w.revision)), int4Array(streams.map(([, w]) => w.last))
    ]
  }

  /**
   * Whether the batch is the one event of the group's one append, without writes of the key
   * spaces: the writer's one call then goes through `append_one` ({@link oneArgs}).
   */
  get single (): boolean {
    return this.count === 1 && this.outcomes.length === 1 && this.written.size === 1 && this.writes.length === 0 && !this.hooked
  }

  /**
   * The arguments of `append_one` (functions.ts) for a {@link single} batch, after which come
   * the channel and the rule's key: the event's columns, its stream's revision before it, and
   * whether its id was given (`checkId`: it must not be stored yet).
   */
  oneArgs (checkId: boolean): unknown[] {
    const from = this.tagFrom[0]!
    const to = this.tagTo[0]!
    return [this.stream[0], this.revision[0]! - 1, this.id[0], this.type[0], this.version[0], from <= to ? this.tags.slice(from - 1, to) : null,
      this.data[0], this.metadata[0], this.sealed[0], this.digest[0], this.sum[0], checkId]
  }

  /**
   * The arguments of `append` (functions.ts) that let streams written without an expected
   * revision be found further on than assumed, when another process appended to them since
   * this one cached their revision: the loose streams, the spread, and each event's checksum
   * at each revision it may take (the revision assumed plus 0 to spread - 1; the checksum covers
   * the revision), `spread` checksums an event, in place of the one of {@link eventArgs}.
   * `spread` 1 allows no move.
   */
  looseArgs (spread: number): { loose: string[], sums: number[] } {
    if (spread === 1) return { loose: [], sums: this.sum }
    const loose = new Set([...this.written.keys()].filter(s => !this.#strict.has(s)))
    const sums: number[] = []
    for (let i = 0; i < this.count; i++) {
      const stream = this.stream[i]!
      sums.push(this.sum[i]!)
      for (let d = 1; d < spread; d++) sums.push(loose.has(stream) ? readySum(stream, this.revision[i]! + d, this.#ready[i]!) : 0)
    }
    return { loose: [...loose], sums }
  }

  /**
   * The batch was written with the revisions of some loose streams moved on (by stream): the
   * answers and the revisions written say so.
   */
  moved (by: ReadonlyMap<string, number>): void {
    if (by.size === 0) return
    for (const [stream, w] of this.written) w.revision += by.get(stream) ?? 0
    for (let i = 0; i < this.count; i++) this.revision[i] = this.revision[i]! + (by.get(this.stream[i]!) ?? 0)
    for (const o of this.outcomes) {
      if (o.results === undefined || o.streams === undefined) continue
      o.results = o.results.map((r, k) => ({ ...r, revision: r.revision + (by.get(o.streams![k]!) ?? 0) }))
    }
  }

  /**
   * Settles every append once the batch is written: those of the batch with their positions
   * moved by `shift` (the one-call path builds from position 0), the others as they ended.
   */
  settle (shift: number): void {
    for (const o of this.outcomes) {
      if (o.error !== undefined) o.request.reject(o.error)
      else if (o.pending === false || shift === 0) o.request.resolve(o.results!)
      else o.request.resolve(o.results!.map(r => ({ ...r, position: r.position + shift })))
    }
  }

  /** Fails the appends whose answer depended on writing the batch; retries of stored events still get theirs. */
  fail (err: unknown): void {
    for (const o of this.outcomes) {
      if (o.error !== undefined) o.request.reject(o.error)
      else if (o.pending === false) o.request.resolve(o.results!)
      else o.request.reject(err)
    }
  }
}

const EMPTY = Buffer.alloc(0)

/** The argument list `$1, $2, ... $n` of a function call, with casts. */
export function placeholders (types: readonly string[], from = 1): string {
  return types.map((type, i) => `$${from + i}::${type}`).join(', ')
}
