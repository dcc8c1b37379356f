// The one writer of the log, with group commit. Appends queue up; whenever the writer is free it
// takes everything waiting, checks each append on its own (expected revision, ids, encoding) and
// writes all that passed as one atomic batch: records, id index entries and, every few thousand
// events, the stream index (see stream-index.ts). An
// append is never split across batches, and one that fails its checks fails alone. Many small
// concurrent appends thus cost one write, and with `sync` one fsync, between them.
import { AnnalsError } from '../errors.js'
import { UnencodableError, encode } from '../storage/codec.js'
import { Space, logKey, namedKey, readU64, u64 } from '../storage/keys.js'
import type { Storage, StorageBatch } from '../storage/storage.js'
import { positionInEventId, randomIdBits } from './event-id.js'
import { decodeRecord, encodeRecord } from './record.js'
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

/** An event with an id of its own, placed in the batch being built. */
interface Placed {
  stream: string
  revision: number
  position: number
  event: PendingEvent
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
    if (this.#mustRead(group)) {
      try {
        known = await this.#prefetch(group)
      } catch (err) {
        for (const r of group) r.reject(err)
        return
      }
    }

    let batch: StorageBatch
    try {
      batch = this.#storage.batch()
    } catch (err) {
      for (const r of group) r.reject(err)
      return
    }
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
        const retried = this.#retried(r, known.events, pendingIds)
        if (retried !== undefined) {
          done.push({ request: r, result: retried.result, written: retried.pending })
          continue
        }
        const current = revisions.get(r.stream) ?? known.revisions.get(r.stream) ?? this.#revisions.get(r.stream)!
        checkExpected(r, current)
        const records = this.#encode(r, current, position, time)
        // the append passed every check: it joins the batch
        for (let i = 0; i < records.length; i++) batch.put(logKey(position + i), records[i]!)
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
      await batch.close()
      for (const { request, result } of done) request.resolve(result)
      return
    }
    const indexed = this.#index.stage(batch, allRuns, position - 1)
    try {
      await batch.write(sync)
    } catch (err) {
      for (const { request, result, written } of done) {
        if (written) request.reject(err)
        else request.resolve(result)
      }
      return
    }
    indexed()
    for (const [stream, revision] of revisions) this.#revisions.set(stream, revision)
    const first = this.#head.position + 1
    this.#head = { position: position - 1, time }
    for (const { request, result } of done) request.resolve(result)
    for (const listener of this.#listeners) listener(first, position - 1)
  }

  /** Encodes the records of an append placed after `current` at `position`; throws if one cannot be. */
  #encode (r: Request, current: number, position: number, time: number): Buffer[] {
    const records: Buffer[] = new Array(r.events.length)
    const max = this.#options.maxEventSize
    for (let i = 0; i < r.events.length; i++) {
      const e = r.events[i]!
      let record: Buffer
      try {
        record = encodeRecord({
          id: e.id ?? randomIdBits(),
          stream: r.stream,
          revision: current + 1 + i,
          type: e.type,
          time,
          data: e.data,
          metadata: e.metadata
        })
      } catch (err) {
        if (!(err instanceof UnencodableError)) throw err
        throw new AnnalsError('ANNALS_INVALID_EVENT', `Event ${i} (${e.type}) cannot be stored: ${err.message}`, { cause: err })
      }
      if (record.length > max) {
        throw new AnnalsError('ANNALS_EVENT_TOO_LARGE', `Event ${i} (${e.type}) takes ${record.length} bytes, over maxEventSize (${max})`)
      }
      records[i] = record
    }
    return records
  }

  /** Whether the checks of this group need reads: a stream not in the cache, or an id of the caller's. */
  #mustRead (group: Request[]): boolean {
    for (const r of group) {
      if (this.#revisions.get(r.stream) === undefined) return true
      for (const e of r.events) if (e.id !== undefined) return true
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
      ids.length > 0 ? this.#findIds(ids) : NOTHING_KNOWN.events
    ])
    return { revisions, events }
  }

  /** Finds stored events by id: through the position a generated id carries, else the id index. */
  async #findIds (ids: string[]): Promise<Map<string, RecordedEvent>> {
    const found = new Map<string, RecordedEvent>()
    const head = this.#head.position
    const carried: Array<[string, number]> = []
    for (const id of ids) {
      const p = positionInEventId(id)
      if (p !== undefined && p <= head) carried.push([id, p])
    }
    const [records, indexed] = await Promise.all([
      this.#storage.getMany(carried.map(([, p]) => logKey(p))),
      this.#storage.getMany(ids.map(id => namedKey(Space.ids, id)))
    ])
    carried.forEach(([id, p], i) => {
      const bytes = records[i]
      if (bytes === undefined) return
      const event = decodeRecord(p, bytes)
      if (event.id === id) found.set(id, event)
    })
    const viaIndex: Array<[string, number]> = []
    ids.forEach((id, i) => {
      const value = indexed[i]
      if (value === undefined || found.has(id)) return
      const p = value.length === 8 ? readU64(value, 0) : undefined
      if (p === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The id index entry of '${id}' is malformed`)
      viaIndex.push([id, p])
    })
    const more = await this.#storage.getMany(viaIndex.map(([, p]) => logKey(p)))
    viaIndex.forEach(([id, p], i) => {
      const bytes = more[i]
      const event = bytes === undefined ? undefined : decodeRecord(p, bytes)
      if (event?.id !== id) throw new AnnalsError('ANNALS_CORRUPT', `The id index points '${id}' at position ${p}, which holds another event`)
      found.set(id, event)
    })
    return found
  }

  /**
   * If every event of the append is already stored (or placed earlier in this batch) in this
   * stream with the same content and order, the result of the original, and whether it waits
   * for this batch; undefined when none is. Anything in between is `ANNALS_DUPLICATE_ID`.
   */
  #retried (r: Request, found: Map<string, RecordedEvent>, pending: Map<string, Placed>): { result: AppendResult, pending: boolean } | undefined {
    let matches = 0
    let seen: Set<string> | undefined
    for (const e of r.events) {
      if (e.id === undefined) continue
      seen ??= new Set()
      if (seen.has(e.id)) throw duplicate(`The id '${e.id}' appears twice in one append`)
      seen.add(e.id)
      if (pending.has(e.id) || found.has(e.id)) matches++
    }
    if (matches === 0) return undefined
    if (matches < r.events.length) {
      throw duplicate('Some events of this append are already stored and some are not')
    }
    let last: AppendResult | undefined
    let inBatch = false
    for (const e of r.events) {
      const id = e.id!
      const placed = pending.get(id)
      const at = placed ?? found.get(id)!
      const same = at.stream === r.stream && (last === undefined || at.revision > last.revision) &&
        sameContent(e, placed !== undefined ? placed.event : found.get(id)!)
      if (!same) throw duplicate(`The id '${id}' is already stored with other content, stream or order`)
      last = { revision: at.revision, position: at.position }
      inBatch ||= placed !== undefined
    }
    return { result: last!, pending: inBatch }
  }
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

function duplicate (message: string): AnnalsError {
  return new AnnalsError('ANNALS_DUPLICATE_ID', message)
}

function sameContent (a: PendingEvent, b: { type: string, data: unknown, metadata: Record<string, unknown> | undefined }): boolean {
  return a.type === b.type &&
    encode(a.data).equals(encode(b.data)) &&
    encode(a.metadata ?? {}).equals(encode(b.metadata ?? {}))
}
