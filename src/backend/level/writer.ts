// The one writer of the level backend. Appends queue up (group-commit.ts); whenever the writer
// is free it takes everything waiting, checks each append on its own (expected revisions,
// idempotent ids, its condition) and writes all that passed as one atomic batch: the events as
// one or more chunks (chunk.ts), id and tag index entries, and every few thousand events the
// streams' blocks (stream-index.ts). One that fails its checks fails alone; an append to
// several streams is one append.
import { batchChannel, codeOf, counted, databaseOf, publishing, type BatchMessage } from '../../diagnostics/channels.js'
import { WriterFigures } from '../../diagnostics/figures.js'
import { AnnalsError } from '../../errors.js'
import type { AppendResult } from '../../log/types.js'
import { Space, namedKey, u64 } from '../../storage/keys.js'
import type { WriteOp } from '../../storage/storage.js'
import {
  LIFECYCLE_STREAM, type AppendCondition, type AppendHook, type AppendManyRequest, type AppendRequest,
  type CommitListener, type LogHead, type StreamRule
} from '../backend.js'
import { GroupCommit, type Queued } from '../group-commit.js'
import { CHUNK_BYTES, CHUNK_EVENTS, ChunkBuilder, chunkAt } from './chunk.js'
import type { LevelDoor } from './door.js'
import { eventParts, writeEvent } from './event-record.js'
import { decodeIdEntry, encodeIdEntry, idKey, type IdEntry } from './ids.js'
import { RevisionCache } from '../revision-cache.js'
import { checkCondition, checkExpected, firstBatch, retriedMany, storedEvents } from '../append-checks.js'
import { lifecycleChange, streamDeleted } from '../lifecycle.js'
import type { Rules } from '../rules.js'
import type { BlockEvent } from './stream-block.js'
import type { StreamIndex } from './stream-index.js'
import { stageTagHeads, tagKey, tagValue } from './tags.js'

/** Streams whose revision is kept in memory. */
const REVISION_CACHE_SIZE = 65536
/** A write that makes what came before it durable, when a batch has nothing else to write. */
const SYNC_KEY = namedKey(Space.meta, 'synced')

interface Request extends Queued<AppendResult[]> {
  append: AppendManyRequest
  /** when it joined the queue (performance.now()), for its latency */
  at: number
}

/** An event with an indexed id, placed in the batch being built, or stored before. */
interface Placed extends IdEntry {
  stream: string
  type: string
  data: Buffer
  metadata: Buffer | undefined
  tags: readonly string[] | undefined
}

/** What the checks of a batch read from storage. */
interface Known {
  revisions: Map<string, number>
  ids: Map<string, Placed>
  /** the first position on disk that breaks each request's condition, if any */
  conflicts: Map<Request, number>
}

const NOTHING_KNOWN: Known = { revisions: new Map(), ids: new Map(), conflicts: new Map() }
const EMPTY = Buffer.alloc(0)

/**
 * Finds the first position past `after` (and at most `head`) of an event matching a
 * condition's query, among the events on disk.
 */
export type ConflictFinder = (condition: AppendCondition, head: number) => Promise<number | undefined>

export class LevelWriter {
  readonly #door: LevelDoor
  readonly #index: StreamIndex
  readonly #sync: boolean
  readonly #conflicts: ConflictFinder
  readonly #rules: Rules
  readonly #revisions = new RevisionCache(REVISION_CACHE_SIZE)
  readonly #listeners = new Set<CommitListener>()
  readonly #queue: GroupCommit<Request, AppendResult[]>
  #hook: AppendHook | undefined
  #head: LogHead
  /** what it counted, for db.stats() */
  readonly figures: WriterFigures

  constructor (door: LevelDoor, index: StreamIndex, head: LogHead, sync: boolean, conflicts: ConflictFinder, rules: Rules) {
    this.#door = door
    this.#index = index
    this.#head = head
    this.#sync = sync
    this.#conflicts = conflicts
    this.#rules = rules
    this.#queue = new GroupCommit(async group => { await this.#commit(group) })
    this.figures = new WriterFigures(() => this.#queue.waiting)
  }

  get head (): LogHead {
    return this.#head
  }

  append (request: AppendRequest): Promise<AppendResult> {
    const { sync, condition, ...part } = request
    return this.appendMany({ parts: [part], sync, condition }).then(results => results[0]!)
  }

  appendMany (request: AppendManyRequest): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      let size = request.lifecycle === undefined ? 0 : 1
      for (const part of request.parts) size += part.events.length
      this.#queue.push({ append: { ...request, parts: [...request.parts] }, size, resolve, reject, at: performance.now() })
    })
  }

  /** The log was imported (backend's importer): its head is now `head`. */
  imported (head: LogHead): void {
    this.#head = head
  }

  /** The revision of the last event of `stream`, or -1. Committed state only. */
  async revision (stream: string): Promise<number> {
    return this.#revisions.get(stream) ?? await this.#index.revision(stream)
  }

  setHook (hook: AppendHook | undefined): void {
    this.#hook = hook
  }

  onCommit (listener: CommitListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Writes what is queued, then the streams' blocks still in memory, so that the next open has nothing to rebuild. */
  async flush (): Promise<void> {
    await this.#queue.drain()
    await this.flushTail()
  }

  /**
   * Writes the streams' blocks still in memory, up to the appends committed before the call,
   * between two batches: appends go on meanwhile (a scavenge needs this under any load).
   */
  async flushTail (): Promise<void> {
    await this.#queue.exclusive(async () => {
      if (!this.#index.pending) return
      const ops: WriteOp[] = []
      const staged = this.#index.stage(ops, new Map(), this.#head.position, true)
      await this.#door.write(ops, this.#sync)
      staged()
    })
  }

  /** Writes a group as one batch, or more where its conditions must see a change to a stream's life before them (firstBatch). */
  async #commit (group: Request[]): Promise<void> {
    const n = firstBatch(group)
    await this.#batch(n === group.length ? group : group.slice(0, n))
    if (n < group.length) await this.#commit(group.slice(n))
  }

  async #batch (group: Request[]): Promise<void> {
    const started = publishing && batchChannel.hasSubscribers ? performance.now() : -1
    let known = NOTHING_KNOWN
    try {
      if (this.#mustRead(group)) known = await this.#prefetch(group)
    } catch (err) {
      for (const r of group) r.reject(err)
      return
    }
    const hook = this.#hook
    const time = Math.max(Date.now(), this.#head.time)
    const revisions = new Map<string, number>() // stream -> revision after this batch
    const added = new Map<string, BlockEvent[]>() // stream -> its events in this batch
    const placedIds = new Map<string, Placed>()
    // the type and tags of every event of this batch, for the conditions of the appends after it
    const placedMeta: Array<{ type: string, tags: readonly string[] | undefined }> = []
    // each tag's last position in this batch: its head
    const tagHeads = new Map<string, number>()
    const ops: WriteOp[] = []
    const chunks: ChunkBuilder[] = []
    const placed: BlockEvent[] = [] // every event of the batch, in position order
    // appends answered by this batch; `written` when their answer depends on its write
    const done: Array<{ request: Request, results: AppendResult[], written: boolean }> = []
    const first = this.#head.position + 1
    let position = first
    let sync = false
    let syncRetried = false
    // streams' rules as this batch changes them, and what to do once it is written
    const rulesNow = new Map<string, StreamRule>()
    const ruleChanges: Array<() => void> = []

    for (const q of group) {
      const r = q.append
      try {
        const again = retriedMany(r.parts, known.ids, placedIds)
        if (again !== undefined) {
          done.push({ request: q, results: again.results, written: again.pending })
          syncRetried ||= r.sync ?? this.#sync
          continue
        }
        if (r.condition !== undefined) checkCondition(r.condition, known.conflicts.get(q), placedMeta, first)
        // each part's expectation, the parts before it of the same append counted
        const currents: number[] = []
        const mine = new Map<string, number>()
        for (const part of r.parts) {
          const current = mine.get(part.stream) ?? revisions.get(part.stream) ?? known.revisions.get(part.stream) ?? this.#revisions.get(part.stream)!
          if ((rulesNow.get(part.stream) ?? this.#rules.stream(part.stream))?.tombstoned === true) throw streamDeleted(part.stream)
          checkExpected(part.stream, part.expected, current)
          currents.push(current)
          mine.set(part.stream, current + part.events.length)
        }
        // a change to a stream's life: checked against the stream as this batch leaves it, and
        // recorded by a system event in `$streams` (the append's one part)
        let applyRule: (() => void) | undefined
        let ruleOps: WriteOp[] | undefined
        if (r.lifecycle !== undefined) {
          ruleOps = []
          const { apply, event } = lifecycleChange(this.#rules, r.lifecycle, ruleOps, rulesNow, s => revisions.get(s) ?? known.revisions.get(s) ?? this.#revisions.get(s)!)
          applyRule = apply
          const current = revisions.get(LIFECYCLE_STREAM) ?? known.revisions.get(LIFECYCLE_STREAM) ?? this.#revisions.get(LIFECYCLE_STREAM)!
          r.parts.push({ stream: LIFECYCLE_STREAM, events: [event], expected: 'any' })
          currents.push(current)
        }
        // the hook (inline projections) takes part last: if it throws, nothing was added yet
        const extra = hook === undefined ? undefined : await hook.append(storedEvents(r.parts, currents, position, time))
        // the append passed every check: it joins the batch
        const results: AppendResult[] = []
        r.parts.forEach((part, k) => {
          const current = currents[k]!
          let list = added.get(part.stream)
          if (list === undefined) added.set(part.stream, list = [])
          const ids: string[] = new Array(part.events.length)
          for (let i = 0; i < part.events.length; i++) {
            const e = part.events[i]!
            ids[i] = e.id
            let chunk = chunks[chunks.length - 1]
            if (chunk === undefined || chunk.count >= CHUNK_EVENTS || chunk.bytes >= CHUNK_BYTES) chunks.push(chunk = new ChunkBuilder(position, time))
            writeEvent(chunk.event(), part.stream, current + 1 + i, e)
            chunk.end()
            // its bytes in the tail are a view into its chunk, once that is finished
            const event: BlockEvent = { revision: current + 1 + i, position, time, bytes: EMPTY }
            placed.push(event)
            list.push(event)
            placedMeta.push({ type: e.type, tags: e.tags })
            if (e.tags !== undefined) {
              for (const tag of e.tags) {
                ops.push({ key: tagKey(tag, position), value: tagValue(e.type, e.tags) })
                tagHeads.set(tag, position)
              }
            }
            if (e.indexed) {
              const entry: IdEntry = { position, revision: current + 1 + i, digest: e.digest ?? EMPTY }
              ops.push({ key: idKey(e.id, e.idBytes), value: encodeIdEntry(entry) })
              // a fresh id cannot come again in this batch: only given ones are looked for
              if (!e.fresh) placedIds.set(e.id, { ...entry, stream: part.stream, type: e.type, data: e.data, metadata: e.metadata, tags: e.tags })
            }
            position++
          }
          revisions.set(part.stream, current + part.events.length)
          results.push({ revision: current + part.events.length, position: position - 1, ids })
        })
        if (extra !== undefined) ops.push(...extra)
        if (ruleOps !== undefined) {
          ops.push(...ruleOps)
          ruleChanges.push(applyRule!)
        }
        sync ||= r.sync ?? this.#sync
        done.push({ request: q, results, written: true })
      } catch (err) {
        q.reject(err)
      }
    }

    if (placed.length === 0) {
      // nothing joins this batch, so nothing the hook staged for it (a catch-up's writes) is written
      hook?.settle(false)
      if (syncRetried) {
        try {
          await this.#door.write([{ key: SYNC_KEY, value: u64(time) }], true)
        } catch (err) {
          for (const { request } of done) request.reject(err)
          return
        }
      }
      this.#committed(done, 0)
      for (const { request, results } of done) request.resolve(results)
      return
    }
    const fail = (err: unknown): void => {
      if (started >= 0) this.#publish(started, group, 0, ops, sync || syncRetried, first, position - 1, err)
      hook?.settle(false)
      for (const { request, results, written } of done) {
        if (written) request.reject(err)
        else request.resolve(results)
      }
    }
    try {
      if (hook?.finish !== undefined) ops.push(...hook.finish())
      stageTagHeads(ops, tagHeads)
      // each event's bytes in the tail are a view into its chunk, as written
      let k = 0
      for (const chunk of chunks) {
        const { key, value, events } = chunk.finish()
        ops.push({ key, value })
        for (const bytes of events) placed[k++]!.bytes = bytes
      }
    } catch (err) {
      fail(err)
      return
    }
    const indexed = this.#index.stage(ops, added, position - 1)
    try {
      await this.#door.write(ops, sync || syncRetried)
    } catch (err) {
      fail(err)
      return
    }
    hook?.settle(true)
    indexed()
    for (const apply of ruleChanges) apply()
    for (const [stream, revision] of revisions) this.#revisions.set(stream, revision)
    this.#head = { position: position - 1, time }
    this.#committed(done, placed.length)
    if (started >= 0) this.#publish(started, group, done.length, ops, sync || syncRetried, first, position - 1, undefined)
    for (const { request, results } of done) request.resolve(results)
    for (const listener of this.#listeners) {
      try {
        listener(first, position - 1)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
  }

  /** Counts a batch that answered `done` and wrote `events`, for db.stats(). */
  #committed (done: ReadonlyArray<{ request: Request }>, events: number): void {
    const now = performance.now()
    for (const { request } of done) this.figures.latency.add(now - request.at)
    if (events > 0) this.figures.batch(done.length, events)
  }

  /** Tells `annals:batch` of a batch written (or failed with `err`). */
  #publish (started: number, group: Request[], written: number, ops: WriteOp[], sync: boolean, first: number, last: number, err: unknown): void {
    if (!batchChannel.hasSubscribers) return
    let bytes = 0
    for (const op of ops) bytes += op.key.length + (op.value?.length ?? 0)
    const message: BatchMessage = {
      database: databaseOf(this.#door),
      appends: group.length,
      written,
      events: err === undefined ? last - first + 1 : 0,
      bytes,
      sync,
      duration: performance.now() - started,
      queued: this.#queue.waiting.events,
      first: err === undefined ? first : -1,
      last: err === undefined ? last : -1
    }
    if (err !== undefined) {
      message.error = err
      message.errorCode = codeOf(err)
    }
    batchChannel.publish(counted(message))
  }

  /** Whether the checks of this group need reads: a stream not in the cache, an id that may be stored, a condition. */
  #mustRead (group: Request[]): boolean {
    for (const { append: r } of group) {
      if (r.condition !== undefined) return true
      if (r.lifecycle !== undefined && this.#revisions.get(LIFECYCLE_STREAM) === undefined) return true
      const target = r.lifecycle !== undefined && 'stream' in r.lifecycle ? r.lifecycle.stream : undefined
      if (target !== undefined && this.#revisions.get(target) === undefined) return true
      for (const part of r.parts) {
        if (this.#revisions.get(part.stream) === undefined) return true
        for (const e of part.events) if (e.indexed && !e.fresh) return true
      }
    }
    return false
  }

  /** Reads what the checks need and the cache lacks: revisions of streams, entries of ids, conflicts with conditions. */
  async #prefetch (group: Request[]): Promise<Known> {
    const streams = new Set<string>()
    const ids: string[] = []
    for (const { append: r } of group) {
      if (r.lifecycle !== undefined && this.#revisions.get(LIFECYCLE_STREAM) === undefined) streams.add(LIFECYCLE_STREAM)
      const target = r.lifecycle !== undefined && 'stream' in r.lifecycle ? r.lifecycle.stream : undefined
      if (target !== undefined && this.#revisions.get(target) === undefined) streams.add(target)
      for (const part of r.parts) {
        if (this.#revisions.get(part.stream) === undefined) streams.add(part.stream)
        for (const e of part.events) if (e.indexed && !e.fresh) ids.push(e.id)
      }
    }
    const revisions = new Map<string, number>()
    const found = new Map<string, Placed>()
    const conflicts = new Map<Request, number>()
    const head = this.#head.position
    await Promise.all([
      Promise.all(group.map(async q => {
        const condition = q.append.condition
        if (condition === undefined) return
        const at = await this.#conflicts(condition, head)
        if (at !== undefined) conflicts.set(q, at)
      })),
      Promise.all([...streams].map(async s => { revisions.set(s, await this.#index.revision(s)) })),
      (async () => {
        const values = await this.#door.getMany(ids.map(id => idKey(id)))
        // a retry: what is stored at that id, for comparison
        await Promise.all(ids.map(async (id, i) => {
          const value = values[i]
          if (value === undefined) return
          const entry = decodeIdEntry(id, value)
          const chunk = await chunkAt(this.#door, entry.position)
          const k = entry.position - chunk.first
          const parts = eventParts(chunk.buffer, chunk.spans[2 * k]!, chunk.spans[2 * k + 1]!)
          if (parts.id !== id) throw new AnnalsError('ANNALS_CORRUPT', `The id index puts '${id}' at position ${entry.position}, which holds another event`)
          found.set(id, { ...entry, stream: parts.stream, type: parts.type, data: parts.data, metadata: parts.metadata, tags: parts.tags })
        }))
      })()
    ])
    return { revisions, ids: found, conflicts }
  }
}






