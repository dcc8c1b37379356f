// The one writer of the log, with group commit. Appends queue up; whenever the writer is free it
// takes everything waiting, checks each append on its own (expected revision, ids, encoding) and
// writes all that passed as one atomic batch: records, id index entries and, every few thousand
// events, the stream index (see stream-index.ts). An
// append is never split across batches, and one that fails its checks fails alone. Many small
// concurrent appends thus cost one write, and with `sync` one fsync, between them.
import { AnnalsError } from '../errors.js'
import { UnencodableError } from '../storage/codec.js'
import { Space, logKey, namedKey, u64 } from '../storage/keys.js'
import type { Storage, StorageBatch, WriteOp } from '../storage/storage.js'
import { formatEventId, positionInEventId, randomIdBits } from './event-id.js'
import type { AppendHook, EventTransform } from './hooks.js'
import { findById, retried, type Placed } from './idempotency.js'
import { encodeRecord } from './record.js'
import { RevisionCache } from './revision-cache.js'
import type { StreamIndex, StreamRun } from './stream-index.js'
import type { AppendResult, ExpectedRevision, RecordedEvent } from './types.js'
import type { PendingEvent } from './validate.js'

/** Most events written in one batch; a single larger append still goes in whole. */
const MAX_BATCH_EVENTS = 8192
/** Streams whose revision is kept in memory. */
const REVISION_CACHE_SIZE = 65536

interface Request {
  stream: string
  events: PendingEvent[]
  expected: ExpectedRevision
  sync: boolean
  resolve: (result: AppendResult) => void
  reject: (err: unknown) => void
}

/** What the checks of a batch read from storage. */
interface Known {
  revisions: Map<string, number>
  events: Map<string, RecordedEvent>
}

const NOTHING_KNOWN: Known = { revisions: new Map(), events: new Map() }

/** Where the log stands: the last committed position (-1 when empty) and its commit time. */
export interface LogHead {
  position: number
  time: number
}

export interface WriterOptions {
  /** Largest encoded record, in bytes. */
  maxEventSize: number
  /** Default for appends that do not say. */
  sync: boolean
}

/** Called after every committed batch with the positions it wrote. */
export type CommitListener = (first: number, last: number) => void

export class Writer {
  readonly #storage: Storage
  readonly #index: StreamIndex
  readonly #options: WriterOptions
  readonly #revisions = new RevisionCache(REVISION_CACHE_SIZE)
  readonly #listeners = new Set<CommitListener>()
  #transform: EventTransform | undefined
  #hook: AppendHook | undefined
  #queue: Request[] = []
  #running: Promise<void> | undefined
  #starting = false
  #head: LogHead

  constructor (storage: Storage, index: StreamIndex, head: LogHead, options: WriterOptions) {
    this.#storage = storage
    this.#index = index
    this.#head = head
    this.#options = options
  }

  /** The last committed position and its time. */
  get head (): LogHead {
    return this.#head
  }

  /** Queues an append of checked events; resolves once its batch is written. */
  append (stream: string, events: PendingEvent[], expected: ExpectedRevision, sync: boolean | undefined): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ stream, events, expected, sync: sync ?? this.#options.sync, resolve, reject })
      if (this.#running === undefined && !this.#starting) {
        // start after the promise jobs already queued: callers resuming from the previous
        // batch re-append a few hops apart, and starting at the first would write it alone
        // (measured: batches of 1 and 63 in turn with 64 callers). A microtask rather than
        // setImmediate keeps a lone append's latency at its write.
        this.#starting = true
        queueMicrotask(this.#start)
      }
    })
  }

  /** The revision of the last event of `stream`, or -1. Committed state only. */
  async revision (stream: string): Promise<number> {
    return this.#revisions.get(stream) ?? await this.#index.revision(stream)
  }

  /** Sets the transform between events and records (see hooks.ts). */
  setTransform (transform: EventTransform | undefined): void {
    this.#transform = transform
  }

  /** Sets the hook every append goes through as it joins a batch (see hooks.ts). */
  setHook (hook: AppendHook | undefined): void {
    this.#hook = hook
  }

  /** Registers a listener for committed batches; returns the function that removes it. */
  onCommit (listener: CommitListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves when every queued append has been written (or failed). */
  async drain (): Promise<void> {
    while (this.#running !== undefined || this.#starting) {
      await (this.#running ?? new Promise(resolve => queueMicrotask(() => resolve(undefined))))
    }
  }

  /** Writes the stream index's waiting runs, so that the next open has nothing to rebuild. */
  async flushIndex (): Promise<void> {
    await this.drain()
    if (!this.#index.pending) return
    const batch = this.#storage.batch()
    const commit = this.#index.stage(batch, [], this.#head.position, true)
    await batch.write(this.#options.sync)
    commit()
  }

  readonly #start = (): void => {
    this.#starting = false
    this.#running ??= this.#run()
  }

  async #run (): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const queue = this.#queue
        let take = 1
        let count = queue[0]!.events.length
        while (take < queue.length && count + queue[take]!.events.length <= MAX_BATCH_EVENTS) {
          count += queue[take]!.events.length
          take++
        }
        this.#queue = take === queue.length ? [] : queue.slice(take)
        await this.#commit(take === queue.length ? queue : queue.slice(0, take))
      }
    } finally {
      this.#running = undefined
    }
  }

  async #commit (group: Request[]): Promise<void> {
    let known = NOTHING_KNOWN
    let batch: StorageBatch
    try {
      if (this.#mustRead(group)) known = await this.#prefetch(group)
      batch = this.#storage.batch()
    } catch (err) {
      for (const r of group) r.reject(err)
      return
    }
    const hook = this.#hook
    const time = Math.max(Date.now(), this.#head.time)
    const revisions = new Map<string, number>() // stream -> revision after this batch
    const runs = new Map<string, StreamRun>() // stream -> its last run in this batch
    const allRuns: StreamRun[] = []
    const pendingIds = new Map<string, Placed>()
    // appends answered by this batch; `written` when their answer depends on its write
    const done: Array<{ request: Request, result: AppendResult, written: boolean }> = []
    let position = this.#head.position + 1
    let sync = false

    for (const r of group) {
      try {
        const again = retried(r.stream, r.events, known.events, pendingIds)
        if (again !== undefined) {
          done.push({ request: r, result: again.result, written: again.pending })
          continue
        }
        const current = revisions.get(r.stream) ?? known.revisions.get(r.stream) ?? this.#revisions.get(r.stream)!
        checkExpected(r, current)
        const { records, events } = this.#encode(r, current, position, time)
        // the hook (inline projections) takes part last: if it throws, nothing was added yet
        const extra = hook === undefined ? undefined : await hook.append(events!)
        // the append passed every check: it joins the batch
        for (let i = 0; i < records.length; i++) batch.put(logKey(position + i), records[i]!)
        if (extra !== undefined) for (const op of extra) putOp(batch, op)
        for (let i = 0; i < r.events.length; i++) {
          const id = r.events[i]!.id
          if (id === undefined) continue
          if (positionInEventId(id) !== position + i) batch.put(namedKey(Space.ids, id), u64(position + i))
          pendingIds.set(id, { stream: r.stream, revision: current + 1 + i, position: position + i, event: r.events[i]! })
        }
        const run = runs.get(r.stream)
        if (run !== undefined && run.position + run.count === position) {
          run.count += records.length
        } else {
          const next = { stream: r.stream, revision: current + 1, position, count: records.length }
          runs.set(r.stream, next)
          allRuns.push(next)
        }
        position += records.length
        revisions.set(r.stream, current + records.length)
        sync ||= r.sync
        done.push({ request: r, result: { revision: current + records.length, position: position - 1 }, written: true })
      } catch (err) {
        r.reject(err)
      }
    }

    if (allRuns.length === 0) {
      // nothing joins this batch, so nothing the hook staged for it (a catch-up's writes) is written
      await batch.close()
      hook?.settle(false)
      for (const { request, result } of done) request.resolve(result)
      return
    }
    const fail = (err: unknown): void => {
      hook?.settle(false)
      for (const { request, result, written } of done) {
        if (written) request.reject(err)
        else request.resolve(result)
      }
    }
    if (hook?.finish !== undefined) {
      try {
        for (const op of hook.finish()) putOp(batch, op)
      } catch (err) {
        await batch.close()
        fail(err)
        return
      }
    }
    const indexed = this.#index.stage(batch, allRuns, position - 1)
    try {
      await batch.write(sync)
    } catch (err) {
      fail(err)
      return
    }
    hook?.settle(true)
    indexed()
    for (const [stream, revision] of revisions) this.#revisions.set(stream, revision)
    const first = this.#head.position + 1
    this.#head = { position: position - 1, time }
    for (const { request, result } of done) request.resolve(result)
    for (const listener of this.#listeners) listener(first, position - 1)
  }

  /**
   * Encodes the records of an append placed after `current` at `position`; throws if one cannot
   * be. With a hook, also the events as stored, for the hook.
   */
  #encode (r: Request, current: number, position: number, time: number): { records: Buffer[], events: RecordedEvent[] | undefined } {
    const records: Buffer[] = new Array(r.events.length)
    const transform = this.#transform
    const events: RecordedEvent[] | undefined = this.#hook === undefined ? undefined : new Array(r.events.length)
    const max = this.#options.maxEventSize
    for (let i = 0; i < r.events.length; i++) {
      const e = r.events[i]!
      const id = e.id ?? randomIdBits()
      let data = e.data
      const seals = transform?.seals(e.type) === true
      if (events !== undefined || seals) {
        const event: RecordedEvent = {
          id: typeof id === 'string' ? id : formatEventId(time, position + i, id),
          stream: r.stream,
          revision: current + 1 + i,
          position: position + i,
          type: e.type,
          data,
          metadata: e.metadata ?? {},
          time
        }
        if (seals) event.data = data = transform!.seal(event)
        if (events !== undefined) events[i] = event
      }
      let record: Buffer
      try {
        record = encodeRecord({ id, stream: r.stream, revision: current + 1 + i, type: e.type, time, data, metadata: e.metadata })
      } catch (err) {
        if (!(err instanceof UnencodableError)) throw err
        throw new AnnalsError('ANNALS_INVALID_EVENT', `Event ${i} (${e.type}) cannot be stored: ${err.message}`, { cause: err })
      }
      if (record.length > max) {
        throw new AnnalsError('ANNALS_EVENT_TOO_LARGE', `Event ${i} (${e.type}) takes ${record.length} bytes, over maxEventSize (${max})`)
      }
      records[i] = record
    }
    return { records, events }
  }

  /** Whether the checks of this group need reads: a stream not in the cache, or an id of the caller's. */
  #mustRead (group: Request[]): boolean {
    const transform = this.#transform
    for (const r of group) {
      if (this.#revisions.get(r.stream) === undefined) return true
      for (const e of r.events) if (e.id !== undefined || transform?.seals(e.type) === true) return true
    }
    return false
  }

  /** Reads what the checks need and the cache lacks: revisions of streams, events by id. */
  async #prefetch (group: Request[]): Promise<Known> {
    const streams = new Set<string>()
    const ids: string[] = []
    for (const r of group) {
      if (this.#revisions.get(r.stream) === undefined) streams.add(r.stream)
      for (const e of r.events) if (e.id !== undefined) ids.push(e.id)
    }
    const revisions = new Map<string, number>()
    const [, events] = await Promise.all([
      Promise.all([...streams].map(async s => { revisions.set(s, await this.#index.revision(s)) })),
      ids.length > 0 ? this.#findStored(ids) : NOTHING_KNOWN.events,
      this.#prepare(group)
    ])
    return { revisions, events }
  }

  /** Lets the transform make ready for the events it seals. */
  async #prepare (group: Request[]): Promise<void> {
    const transform = this.#transform
    if (transform === undefined) return
    const sealed: Array<{ stream: string, type: string, data: unknown }> = []
    for (const r of group) {
      for (const e of r.events) if (transform.seals(e.type)) sealed.push({ stream: r.stream, type: e.type, data: e.data })
    }
    if (sealed.length > 0) await transform.prepare(sealed)
  }

  /** Stored events by id, as callers see them, for comparison with a retry. */
  async #findStored (ids: string[]): Promise<Map<string, RecordedEvent>> {
    const found = await findById(this.#storage, ids, this.#head.position)
    if (this.#transform === undefined || found.size === 0) return found
    const opened = await this.#transform.open([...found.values()])
    return new Map(opened.map(e => [e.id, e]))
  }
}

function putOp (batch: StorageBatch, op: WriteOp): void {
  if (op.value === undefined) batch.del(op.key)
  else batch.put(op.key, op.value)
}

function checkExpected (r: Request, current: number): void {
  const expected = r.expected
  const ok = expected === 'any' ||
    (expected === 'no_stream' && current === -1) ||
    (expected === 'stream_exists' && current >= 0) ||
    expected === current
  if (!ok) {
    throw new AnnalsError('ANNALS_WRONG_EXPECTED_REVISION',
      `Stream '${r.stream}' is at revision ${current}; the append expected ${String(expected)}`)
  }
}
