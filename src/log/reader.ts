// Reading the log: events are handed out one at a time from chunks a backend reads, so memory
// stays flat however long the log.
import type { EventChunks } from '../backend/backend.js'
import { codeOf, counted, readChannel, type DatabaseInfo, type ReadMessage } from '../diagnostics/channels.js'
import type { RecordedEvent } from './types.js'

export type { EventChunks, ReadRange } from '../backend/backend.js'

/** A read being told to `annals:read`: its message, and when it started. */
export interface ReadTrace {
  message: ReadMessage
  started: number
}

/** The trace of a read, when `annals:read` has subscribers (else undefined: nothing is built). */
export function traceRead (database: DatabaseInfo, operation: ReadMessage['operation'], stream: string | undefined, options: unknown): ReadTrace | undefined {
  if (!readChannel.hasSubscribers) return undefined
  return { message: counted({ database, operation, stream, options, events: 0, duration: 0 }), started: performance.now() }
}

/**
 * An async iterable over a chunk source, created lazily on first `next()` so that errors in
 * starting a read surface as a rejected `next()` like every other failure.
 */
export class EventIterator implements EventStream {
  #open: (() => EventChunks) | undefined
  readonly #guard: () => void
  #source: EventChunks | undefined
  #chunk: RecordedEvent[] = []
  #index = 0
  #done = false
  #trace: ReadTrace | undefined

  /**
   * `guard` throws when reading must stop (the database closed), even with events in hand;
   * `trace` (see {@link traceRead}) is told how the read ended.
   */
  constructor (open: () => EventChunks, guard: () => void, trace?: ReadTrace) {
    this.#open = open
    this.#guard = guard
    this.#trace = trace
  }

  async next (): Promise<IteratorResult<RecordedEvent, undefined>> {
    if (this.#done) return { value: undefined, done: true }
    try {
      this.#guard()
    } catch (err) {
      this.#told(err)
      await this.return()
      throw err
    }
    if (this.#index < this.#chunk.length) return { value: this.#chunk[this.#index++]!, done: false }
    try {
      if (this.#source === undefined) {
        const open = this.#open!
        this.#open = undefined
        this.#source = open()
      }
      this.#chunk = await this.#source.next()
      this.#index = 0
      if (this.#trace !== undefined) this.#trace.message.events += this.#chunk.length
    } catch (err) {
      this.#told(err)
      await this.return()
      throw err
    }
    if (this.#chunk.length === 0) {
      this.#told(undefined)
      this.#done = true
      return { value: undefined, done: true }
    }
    return { value: this.#chunk[this.#index++]!, done: false }
  }

  async return (): Promise<IteratorResult<RecordedEvent, undefined>> {
    this.#told(undefined)
    this.#done = true
    this.#chunk = []
    this.#open = undefined
    await this.#source?.close().catch(() => {})
    return { value: undefined, done: true }
  }

  /** Tells `annals:read` how the read ended, once: the events handed out, and the error if it failed. */
  #told (err: unknown): void {
    const trace = this.#trace
    if (trace === undefined) return
    this.#trace = undefined
    const m = trace.message
    m.events -= this.#chunk.length - this.#index
    m.duration = performance.now() - trace.started
    if (err !== undefined) {
      m.error = err
      m.errorCode = codeOf(err)
    }
    if (readChannel.hasSubscribers) readChannel.publish(m)
  }

  async toArray (): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = []
    for await (const event of this) out.push(event)
    return out
  }

  [Symbol.asyncIterator] (): this {
    return this
  }
}

/**
 * Events read from the log: an async iterable that streams from disk in chunks, with
 * `toArray()` for reads you know are short.
 *
 * @example
 * ```ts
 * for await (const event of db.readStream('user-7')) console.log(event.type)
 * const last10 = await db.readAll({ backwards: true, limit: 10 }).toArray()
 * ```
 */
export interface EventStream extends AsyncIterableIterator<RecordedEvent> {
  /** Every remaining event, in one array: for reads you know are short. */
  toArray (): Promise<RecordedEvent[]>
}
