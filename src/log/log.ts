// The log: checked events in, events out, over a backend. On the way in it gives events their
// ids, seals their personal fields (the event transform) and encodes them; on the way out it
// opens them again, in the one mapping step every read path shares. Storing, ordering and
// checking appends is the backend's (backend/backend.ts).
import type { AppendCondition, AppendHook, AppendPart, Backend, CommitListener, EventChunks, LifecycleChange, LogFilter, LogHead, ReadRange, ReadyEvent } from '../backend/backend.js'
import { appendChannel, counted, describeDatabase, traced, tracePromise, type DatabaseInfo } from '../diagnostics/channels.js'
import type { Storage } from '../storage/storage.js'
import { newEventIdBytes } from './event-id.js'
import { formatUuid } from '../storage/uuid.js'
import { readyEvent } from './ready.js'
import type { EventTransform } from './hooks.js'
import type { AppendResult, ExpectedRevision } from './types.js'
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
  readonly #maxEventSize: number
  readonly #sync: boolean
  /** which database this is, in the messages of the diagnostics channels */
  readonly database: DatabaseInfo
  #transform: EventTransform | undefined
  /** appends waiting to be handed to the backend in order, and the last one's hand-over */
  #ordering = 0
  #handedOver: Promise<void> = Promise.resolve()

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
    if (traced(appendChannel)) {
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
    if (traced(appendChannel)) {
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
    if (!sealing && this.#ordering === 0) {
      try {
        return send(parts.map(p => ({ stream: p.stream, events: this.#ready(p.stream, p.events, undefined), expected: p.expected })))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.#inOrder(parts, sealing ? transform : undefined, send)
  }

  /**
   * An append that must wait before it is handed to the backend (its keys are made ready), and
   * every append after it until it is handed over: appends reach the backend in the order they
   * were called, however long each waits.
   */
  async #inOrder<R> (parts: ReadonlyArray<{ stream: string, events: PendingEvent[], expected: ExpectedRevision }>, transform: EventTransform | undefined, send: (parts: AppendPart[]) => Promise<R>): Promise<R> {
    this.#ordering++
    const before = this.#handedOver
    let handOver!: () => void
    this.#handedOver = new Promise<void>(resolve => { handOver = resolve })
    let committed: Promise<R>
    try {
      const ready = transform?.prepare(parts.flatMap(p => p.events.filter(e => transform.seals(e.type)).map(e => ({ stream: p.stream, type: e.type, data: e.data }))))
      ready?.catch(() => {}) // awaited below, after the appends before this one
      await before
      await ready
      committed = send(parts.map(p => ({ stream: p.stream, events: this.#ready(p.stream, p.events, transform), expected: p.expected })))
    } finally {
      this.#ordering--
      handOver()
    }
    return await committed
  }

  /**
   * Every id goes into the id index, generated or given: a retry with the ids an append
   * returned, or from a process that lost its connection, is answered as the first time.
   */
  #ready (stream: string, events: PendingEvent[], transform: EventTransform | undefined): ReadyEvent[] {
    const now = Date.now()
    const maxEventSize = this.#maxEventSize
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
      const ready = readyEvent(stream, e, i, { id, indexed: true, fresh: e.id === undefined, stored, maxEventSize })
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
    return this.#ordering === 0 ? await send() : await this.#inOrder([], undefined, send)
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
   * The whole log in chunks, as callers see it; with `stored`, as records hold it (personal
   * fields sealed), for layers that derive data to store (views, snapshots).
   */
  chunks (range: ReadRange, types?: ReadonlySet<string>, stored = false): EventChunks {
    const source = this.backend.readLog(range, types)
    return stored ? source : this.#opened(source)
  }

  /** The events a filter keeps (a query, a category of streams), as callers see them, or with `stored` as records hold them. */
  filtered (range: ReadRange, filter: LogFilter, stored = false): EventChunks {
    const source = this.backend.readFiltered(range, filter)
    return stored ? source : this.#opened(source)
  }

  /** One stream in chunks, as callers see it, or with `stored` as records hold it. */
  streamChunks (stream: string, range: ReadRange, stored = false): EventChunks {
    const source = this.backend.readStream(stream, range)
    return stored ? source : this.#opened(source)
  }

  /** Sets the transform between events and records; every read and write goes through it. */
  setTransform (transform: EventTransform | undefined): void {
    this.#transform = transform
  }

  /** Sets the hook every append goes through as it joins a batch. */
  setHook (hook: AppendHook | undefined): void {
    this.backend.setHook(hook)
  }

  /** The one mapping step every read path shares. */
  #opened (source: EventChunks): EventChunks {
    const transform = this.#transform
    if (transform === undefined) return source
    return {
      next: async () => {
        const chunk = await source.next()
        return chunk.length === 0 ? chunk : await transform.open(chunk)
      },
      close: async () => { await source.close() }
    }
  }

  onCommit (listener: CommitListener): () => void {
    return this.backend.onCommit(listener)
  }

  /** Resolves once every append accepted so far is written (or failed). */
  async flush (): Promise<void> {
    await this.#handedOver
    await this.backend.flush()
  }

  /** Writes what is accepted and waiting, then closes the backend. */
  async close (): Promise<void> {
    await this.backend.close()
  }
}
