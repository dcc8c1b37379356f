// Reading the log: events are handed out one at a time from chunks a backend reads, so memory
// stays flat however long the log.
import type { EventChunks } from '../backend/backend.js'
import type { RecordedEvent } from './types.js'

export type { EventChunks, ReadRange } from '../backend/backend.js'

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

  /** `guard` throws when reading must stop (the database closed), even with events in hand. */
  constructor (open: () => EventChunks, guard: () => void) {
    this.#open = open
    this.#guard = guard
  }

  async next (): Promise<IteratorResult<RecordedEvent, undefined>> {
    if (this.#done) return { value: undefined, done: true }
    try {
      this.#guard()
    } catch (err) {
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
    } catch (err) {
      await this.return()
      throw err
    }
    if (this.#chunk.length === 0) {
      this.#done = true
      return { value: undefined, done: true }
    }
    return { value: this.#chunk[this.#index++]!, done: false }
  }

  async return (): Promise<IteratorResult<RecordedEvent, undefined>> {
    this.#done = true
    this.#chunk = []
    this.#open = undefined
    await this.#source?.close().catch(() => {})
    return { value: undefined, done: true }
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
