// The log: checked events in, events out, over a backend. On the way in it gives events their
// ids and their types' versions, seals their personal fields (the event transform) and encodes
// them; on the way out it upcasts them to their types' current versions and opens them again,
// in the one mapping step every read path shares. Storing, ordering and checking appends is the
// backend's (backend/backend.ts).
import type { AppendCondition, AppendHook, AppendPart, Backend, CommitListener, EventChunks, EventQuery, LifecycleChange, LogFilter, LogHead, ReadRange, ReadyEvent } from '../backend/backend.js'
import { appendChannel, counted, describeDatabase, publishing, traced, tracePromise, type DatabaseInfo } from '../diagnostics/channels.js'
import type { Storage } from '../storage/storage.js'
import { newEventIdBytes } from './event-id.js'
import { formatUuid } from '../storage/uuid.js'
import { readyEvent } from './ready.js'
import type { EventTransform } from './hooks.js'
import type { AppendResult, ExpectedRevision, RecordedEvent } from './types.js'
import { Upcaster, matchesQuery } from './upcast.js'
import type { PendingEvent } from './validate.js'

export type { EventChunks, ReadRange, LogHead, CommitListener }

/** Options of the log. */
export interface LogOptions {
  /** Largest encoded event, in bytes. */
  maxEventSize: number
  /** The database's default `sync` (for what the diagnostics channels tell). */
  sync?: boolean
}

export class Log {
  readonly backend: Backend
  /** The event types' declared versions and upcast steps. */
  readonly upcaster = new Upcaster()
  readonly #maxEventSize: number
  readonly #sync: boolean
  /** which database this is, in the messages of the diagnostics channels */
  readonly database: DatabaseInfo
  #transform: EventTransform | undefined
  /** appends waiting to be handed to the backend, in the order they were called */
  #waiting: Waiting[] = []
  /** resolves when the queue is empty again */
  #emptied: { promise: Promise<void>, resolve: () => void } | undefined

  constructor (backend: Backend, options: LogOptions) {
    this.backend = backend
    this.#maxEventSize = options.maxEventSize
    this.#sync = options.sync ?? false
    this.database = describeDatabase(backend.storage, backend.location)
  }

  /** The key spaces of the layers above. */
  get storage (): Storage {
    return this.backend.storage
  }

  /** The last committed position (-1 when the log is empty) and its commit time. */
  get head (): LogHead {
    return this.backend.head
  }

  /**
   * Appends checked events: ids given (or generated here), personal fields sealed, data
   * encoded, then handed to the backend.
   */
  append (stream: string, events: PendingEvent[], expected: ExpectedRevision, sync: boolean | undefined, condition?: AppendCondition): Promise<AppendResult> {
    if (publishing && traced(appendChannel)) {
      const message = counted({ database: this.database, operation: 'append' as const, streams: [stream], events: events.length, sync: sync ?? this.#sync, condition: condition !== undefined })
      return tracePromise(appendChannel, message, async () => await this.#append(stream, events, expected, sync, condition))
    }
    return this.#append(stream, events, expected, sync, condition)
  }

  #append (stream: string, events: PendingEvent[], expected: ExpectedRevision, sync: boolean | undefined, condition?: AppendCondition): Promise<AppendResult> {
    return this.#submit([{ stream, events, expected }], parts => this.backend.append({ ...parts[0]!, sync, ...(condition === undefined ? {} : { condition }) }))
  }

  /** Appends to several streams, all or nothing (see {@link append}). */
  appendMany (parts: ReadonlyArray<{ stream: string, events: PendingEvent[], expected: ExpectedRevision }>, sync: boolean | undefined, condition?: AppendCondition): Promise<AppendResult[]> {
    if (publishing && traced(appendChannel)) {
      let events = 0
      for (const p of parts) events += p.events.length
      const message = counted({ database: this.database, operation: 'appendMany' as const, streams: parts.map(p => p.stream), events, sync: sync ?? this.#sync, condition: condition !== undefined })
      return tracePromise(appendChannel, message, async () => await this.#appendMany(parts, sync, condition))
    }
    return this.#appendMany(parts, sync, condition)
  }

  #appendMany (parts: ReadonlyArray<{ stream: string, events: PendingEvent[], expected: ExpectedRevision }>, sync: boolean | undefined, condition?: AppendCondition): Promise<AppendResult[]> {
    return this.#submit(parts, ready => this.backend.appendMany({ parts: ready, sync, ...(condition === undefined ? {} : { condition }) }))
  }

  #submit<R> (parts: ReadonlyArray<{ stream: string, events: PendingEvent[], expected: ExpectedRevision }>, send: (parts: AppendPart[]) => Promise<R>): Promise<R> {
    const transform = this.#transform
    const sealing = transform !== undefined && parts.some(p => p.events.some(e => transform.seals(e.type)))
    let ready: Promise<void> | undefined
    try {
      if (sealing) ready = transform.prepare(parts.flatMap(p => p.events.filter(e => transform.seals(e.type)).map(e => ({ stream: p.stream, type: e.type, data: e.data }))))
      // nothing to wait for, and no append before it waiting: handed over now
      if (ready === undefined && this.#waiting.length === 0) {
        return send(parts.map(p => ({ stream: p.stream, events: this.#ready(p.stream, p.events, sealing ? transform : undefined), expected: p.expected })))
      }
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#inOrder(parts, sealing ? transform : undefined, ready, send)
  }

  /**
   * An append that must wait before it is handed to the backend (its keys are made ready), and
   * every append after it until it is handed over: appends reach the backend in the order they
   * were called, however long each waits. Those ready are handed over together, in one turn of
   * the event loop, so that they still share a batch.
   */
  #inOrder<R> (parts: ReadonlyArray<{ stream: string, events: PendingEvent[], expected: ExpectedRevision }>, transform: EventTransform | undefined, ready: Promise<void> | undefined, send: (parts: AppendPart[]) => Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry: Waiting = {
        ready: ready === undefined,
        error: undefined,
        hand: () => send(parts.map(p => ({ stream: p.stream, events: this.#ready(p.stream, p.events, transform), expected: p.expected }))),
        resolve: resolve as (result: unknown) => void,
        reject
      }
      this.#waiting.push(entry)
      if (ready === undefined) {
        this.#handOver()
        return
      }
      ready.then(() => {
        entry.ready = true
        this.#handOver()
      }, (err: unknown) => {
        entry.ready = true
        entry.error = err ?? new Error('preparing an append failed')
        this.#handOver()
      })
    })
  }

  /** Hands over the appends at the head of the queue that are ready, in order. */
  #handOver (): void {
    const waiting = this.#waiting
    let n = 0
    while (n < waiting.length && waiting[n]!.ready) {
      const entry = waiting[n++]!
      if (entry.error !== undefined) {
        entry.reject(entry.error)
        continue
      }
      try {
        entry.resolve(entry.hand())
      } catch (err) {
        entry.reject(err)
      }
    }
    if (n > 0) waiting.splice(0, n)
    if (waiting.length === 0 && this.#emptied !== undefined) {
      this.#emptied.resolve()
      this.#emptied = undefined
    }
  }

  /**
   * Every id goes into the id index, generated or given: a retry with the ids an append
   * returned, or from a process that lost its connection, is answered as the first time.
   */
  #ready (stream: string, events: PendingEvent[], transform: EventTransform | undefined): ReadyEvent[] {
    const now = Date.now()
    const maxEventSize = this.#maxEventSize
    const columns = this.backend.columns === true
    return events.map((e, i) => {
      const idBytes = e.id === undefined ? Buffer.from(newEventIdBytes(now)) : undefined
      const id = e.id ?? formatUuid(idBytes!)
      let stored: { data: unknown, digest: Buffer | undefined } | undefined
      if (transform?.seals(e.type) === true) {
        stored = {
          data: transform.seal({ id, type: e.type, data: e.data }),
          digest: transform.digest({ type: e.type, data: e.data, metadata: e.metadata ?? {}, ...(e.tags === undefined ? {} : { tags: e.tags }) })
        }
      }
      const ready = readyEvent(stream, e, i, { id, version: this.upcaster.version(e.type), indexed: true, fresh: e.id === undefined, stored, maxEventSize, columns })
      if (idBytes !== undefined) ready.idBytes = idBytes
      return ready
    })
  }

  async revision (stream: string): Promise<number> {
    return await this.backend.revision(stream)
  }

  /** Changes a stream's life (deletion, tombstone, truncation, retention, archive), recorded by a system event. */
  async lifecycle (change: LifecycleChange, sync?: boolean): Promise<AppendResult> {
    // in call order with appends: an append called after a tombstone is refused
    const send = async (): Promise<AppendResult> => (await this.backend.appendMany({ parts: [], sync, lifecycle: change }))[0]!
    return this.#waiting.length === 0 ? await send() : await this.#inOrder([], undefined, undefined, send)
  }

  /** The first revision of a stream that reads now. */
  async streamStart (stream: string): Promise<number> {
    return await this.backend.streamStart(stream)
  }

  /** The last position committed at or before `time` (ms since the epoch), or -1. */
  async positionAt (time: number): Promise<number> {
    return await this.backend.positionAt(time)
  }

  /** The last revision of `stream` at or before `position` in the log, or -1. */
  async revisionAt (stream: string, position: number): Promise<number> {
    return await this.backend.revisionAt(stream, position)
  }

  /**
   * The whole log in chunks, as callers see it; with `stored`, with personal fields sealed as
   * records hold them, for layers that derive data to store (views, snapshots). Events are
   * upcast to their types' current versions (and `types` are those as read), unless `upcast`
   * is false: then they come at the versions they were stored at.
   */
  chunks (range: ReadRange, types?: ReadonlySet<string>, stored = false, upcast = true): EventChunks {
    const wide = upcast ? this.upcaster.widenTypes(types) : undefined
    if (wide === undefined) return this.#mapped(this.backend.readLog(range, types), stored, upcast)
    return this.#mapped(this.backend.readLog({ ...range, limit: Infinity }, wide), stored, upcast, { keep: e => types!.has(e.type), limit: range.limit })
  }

  /** The events a filter keeps (a query, a category of streams), as callers see them, or with `stored` and `upcast` as {@link chunks}. */
  filtered (range: ReadRange, filter: LogFilter, stored = false, upcast = true): EventChunks {
    const query = filter.query
    const wide = upcast ? this.upcaster.widenQuery(query) : undefined
    if (wide === undefined) return this.#mapped(this.backend.readFiltered(range, filter), stored, upcast)
    return this.#mapped(this.backend.readFiltered({ ...range, limit: Infinity }, { ...filter, query: wide }), stored, upcast,
      { keep: e => matchesQuery(e, query as EventQuery), limit: range.limit })
  }

  /** One stream in chunks, as callers see it, or with `stored` and `upcast` as {@link chunks}. */
  streamChunks (stream: string, range: ReadRange, stored = false, upcast = true): EventChunks {
    return this.#mapped(this.backend.readStream(stream, range), stored, upcast)
  }

  /** Sets the transform between events and records; every read and write goes through it. */
  setTransform (transform: EventTransform | undefined): void {
    this.#transform = transform
  }

  /** Sets the hook every append goes through as it joins a batch. */
  setHook (hook: AppendHook | undefined): void {
    this.backend.setHook(hook)
  }

  /**
   * The one mapping step every read path shares: events upcast (unless not `upcast`), kept by
   * `filter` once upcast (a read by type whose backend read was widened), then opened (unless
   * `stored`).
   */
  #mapped (source: EventChunks, stored: boolean, upcast: boolean, filter?: { keep: (e: RecordedEvent) => boolean, limit: number }): EventChunks {
    const transform = stored ? undefined : this.#transform
    const upcaster = upcast && this.upcaster.active ? this.upcaster : undefined
    if (transform === undefined && upcaster === undefined && filter === undefined) return source
    let left = filter?.limit ?? Infinity
    return {
      next: async () => {
        for (;;) {
          if (left <= 0) return []
          let chunk = await source.next()
          if (chunk.length === 0) return chunk
          if (upcaster !== undefined) chunk = upcaster.upcast(chunk)
          if (filter !== undefined) {
            chunk = chunk.filter(filter.keep)
            if (chunk.length > left) chunk = chunk.slice(0, left)
            left -= chunk.length
            if (chunk.length === 0) continue
          }
          return transform === undefined ? chunk : await transform.open(chunk)
        }
      },
      close: async () => { await source.close() }
    }
  }

  onCommit (listener: CommitListener): () => void {
    return this.backend.onCommit(listener)
  }

  /** Resolves once every append accepted so far is written (or failed). */
  async flush (): Promise<void> {
    if (this.#waiting.length > 0) {
      if (this.#emptied === undefined) {
        let resolve!: () => void
        const promise = new Promise<void>(r => { resolve = r })
        this.#emptied = { promise, resolve }
      }
      await this.#emptied.promise
    }
    await this.backend.flush()
  }

  /** Writes what is accepted and waiting, then closes the backend. */
  async close (): Promise<void> {
    await this.backend.close()
  }
}

/** An append waiting in the log's queue to be handed to the backend. */
interface Waiting {
  /** whether what it waits for (its keys) is ready, or failed with `error` */
  ready: boolean
  error: unknown
  /** hands it to the backend: returns the promise of its commit */
  hand: () => Promise<unknown>
  resolve: (result: unknown) => void
  reject: (err: unknown) => void
}
