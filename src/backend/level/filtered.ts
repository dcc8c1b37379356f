// Reads that keep only some events of the log: those matching a query (by the tag index when
// every item has a tag, else by a scan that decodes only the headers of what it passes over),
// and those of a category of streams (merged from the streams' own reads when the category has
// few streams, else by a scan). Each in position order, or backwards, with the checks of every
// read: checksums, and no position missing where one is read.
import type { RecordedEvent } from '../../log/types.js'
import type { Storage } from '../../storage/storage.js'
import type { AppendCondition, EventChunks, EventQuery, LogFilter, ReadRange } from '../backend.js'
import { chunkAt, corruptChunk, type Chunk } from './chunk.js'
import { peekEvent, type Accept } from './event-record.js'
import { decodeAt, logChunks, streamChunks } from './readers.js'
import type { Visibility } from '../rules.js'
import type { StreamIndex } from './stream-index.js'
import { listStreams } from './stream-list.js'
import { matchesQuery } from '../append-checks.js'
import { indexable, noneAfter, queryPositions } from './tags.js'

/** A category with more streams than this is read by a scan of the log rather than by merging its streams. */
export const MERGE_STREAMS = 1000

/** What a filter accepts of an event's header (and what the rules of streams' lives let read). */
function accepting (filter: LogFilter, visibility?: Visibility): Accept {
  const { query, prefix } = filter
  const rules = visibility?.active === true ? visibility : undefined
  return (h, p, t) => (prefix === undefined || h.stream.startsWith(prefix)) && (query === undefined || matchesQuery(query, h.type, h.tags)) &&
    (rules === undefined || rules.visible(h.stream, h.revision, p, t))
}

/** The filtered read: by the cheapest way the filter allows. */
export function filteredChunks (storage: Storage, index: StreamIndex, range: ReadRange, head: () => number, filter: LogFilter, visibility: Visibility): EventChunks {
  const { query, prefix } = filter
  if (query !== undefined && indexable(query)) return new ByPositions(storage, range, head, query, prefix, visibility)
  if (prefix !== undefined && query === undefined) return new Category(storage, index, range, head, prefix, visibility)
  return logChunks(storage, range, head, accepting(filter), visibility)
}

/** The bounds of a read, from its range and the head: `low..high`, empty when `low > high`. */
function bounds (range: ReadRange, head: number): { low: number, high: number } {
  const low = (range.backwards ? range.to : range.from) ?? 0
  const high = Math.min((range.backwards ? range.from : range.to) ?? head, head)
  return { low, high }
}

/** Events at the positions the tag index gives for a query, read from their chunks. */
class ByPositions implements EventChunks {
  readonly #storage: Storage
  readonly #range: ReadRange
  readonly #head: () => number
  readonly #query: EventQuery
  readonly #accept: Accept
  readonly #visibility: Visibility
  #positions: AsyncGenerator<number[]> | undefined
  #chunk: Chunk | undefined
  #left: number

  constructor (storage: Storage, range: ReadRange, head: () => number, query: EventQuery, prefix: string | undefined, visibility: Visibility) {
    this.#storage = storage
    this.#range = range
    this.#head = head
    this.#query = query
    this.#accept = accepting({ query, prefix }, visibility)
    this.#visibility = visibility
    this.#left = range.limit
  }

  async next (): Promise<RecordedEvent[]> {
    if (this.#positions === undefined) {
      const { low, high } = bounds(this.#range, this.#head())
      if (low > high) return []
      this.#positions = queryPositions(this.#storage, this.#query, low, high, this.#range.backwards)
    }
    while (this.#left > 0) {
      const batch = await this.#positions.next()
      if (batch.done === true) break
      const out: RecordedEvent[] = []
      for (const position of batch.value) {
        const event = await this.#eventAt(position)
        if (event === undefined) continue
        out.push(event)
        if (--this.#left === 0) break
      }
      if (out.length > 0) return out
    }
    await this.close()
    return []
  }

  /** The event at `position`, from the chunk read last when it holds it. */
  async #eventAt (position: number): Promise<RecordedEvent | undefined> {
    let chunk = this.#chunk
    if (chunk === undefined || position < chunk.first || position >= chunk.first + chunk.count) {
      chunk = this.#chunk = await chunkAt(this.#storage, position)
    }
    const i = position - chunk.first
    const start = chunk.spans[2 * i]!
    const end = chunk.spans[2 * i + 1]!
    if (start === end) return undefined // removed
    if (this.#visibility.active) {
      try {
        await this.#visibility.prepare([peekEvent(chunk.buffer, start, end).stream])
      } catch {} // the decode below reports it
    }
    return decodeAt(chunk.buffer, start, end, position, chunk.time, this.#accept, () => corruptChunk(position, 'its event does not decode'))
  }

  async close (): Promise<void> {
    this.#left = 0
    await this.#positions?.return(undefined)
  }
}

/**
 * The events of the streams whose name starts with a prefix: each stream read from its own
 * blocks, from the revision at the read's first position, merged by position. With more than
 * {@link MERGE_STREAMS} streams, a scan of the log that keeps theirs.
 */
class Category implements EventChunks {
  readonly #storage: Storage
  readonly #index: StreamIndex
  readonly #range: ReadRange
  readonly #head: () => number
  readonly #prefix: string
  readonly #visibility: Visibility
  #source: EventChunks | undefined
  /** each stream's read and the events of its last chunk not yet merged */
  #heads: Array<{ chunks: EventChunks, events: RecordedEvent[], at: number }> = []
  #merging = false
  #low = 0
  #high = -1
  #left: number

  constructor (storage: Storage, index: StreamIndex, range: ReadRange, head: () => number, prefix: string, visibility: Visibility) {
    this.#storage = storage
    this.#index = index
    this.#range = range
    this.#head = head
    this.#prefix = prefix
    this.#visibility = visibility
    this.#left = range.limit
  }

  async #open (): Promise<void> {
    const head = this.#head()
    const { low, high } = bounds(this.#range, head)
    this.#low = low
    this.#high = high
    const streams: string[] = []
    for await (const s of listStreams(this.#storage, this.#index, { prefix: this.#prefix, after: undefined, limit: MERGE_STREAMS + 1 })) streams.push(s.stream)
    if (streams.length > MERGE_STREAMS) {
      this.#source = logChunks(this.#storage, this.#range, () => head, h => h.stream.startsWith(this.#prefix), this.#visibility)
      return
    }
    this.#merging = true
    const backwards = this.#range.backwards
    for (const stream of streams) {
      // the revisions of the stream within the read's positions
      const first = await this.#index.revisionAt(stream, low - 1) + 1
      const last = await this.#index.revisionAt(stream, high)
      if (first > last) continue
      const chunks = streamChunks(this.#storage, this.#index, stream, {
        from: backwards ? last : first, to: backwards ? first : last, backwards, limit: Infinity
      }, 1, this.#visibility)
      const entry = { chunks, events: await chunks.next(), at: 0 }
      if (entry.events.length > 0) this.#heads.push(entry)
    }
  }

  async next (): Promise<RecordedEvent[]> {
    if (!this.#merging && this.#source === undefined) await this.#open()
    if (this.#source !== undefined) return await this.#source.next()
    const backwards = this.#range.backwards
    const out: RecordedEvent[] = []
    while (this.#left > 0 && out.length < 1024 && this.#heads.length > 0) {
      let best = 0
      for (let i = 1; i < this.#heads.length; i++) {
        const a = this.#heads[i]!.events[this.#heads[i]!.at]!.position
        const b = this.#heads[best]!.events[this.#heads[best]!.at]!.position
        if (backwards ? a > b : a < b) best = i
      }
      const h = this.#heads[best]!
      const event = h.events[h.at++]!
      if (h.at === h.events.length) {
        h.events = await h.chunks.next()
        h.at = 0
        if (h.events.length === 0) this.#heads.splice(best, 1)
      }
      if (event.position < this.#low || event.position > this.#high) continue
      out.push(event)
      this.#left--
    }
    if (out.length === 0) await this.close()
    return out
  }

  async close (): Promise<void> {
    this.#left = 0
    await this.#source?.close()
    await Promise.all(this.#heads.map(async h => { await h.chunks.close() }))
    this.#heads = []
  }
}

/**
 * The first position past `condition.after`, at most `head`, of an event on disk matching the
 * condition's query; undefined when there is none. By the tags' heads, then the tag index, when
 * every item has a tag, else by a scan of the log from `after` on.
 */
export async function firstConflict (storage: Storage, condition: AppendCondition, head: number, visibility: Visibility): Promise<number | undefined> {
  const low = (condition.after ?? -1) + 1
  if (low > head) return undefined
  const query = condition.failIfEventsMatch
  // tags that no event after `after` carries: nothing to scan (the tags' heads, tags.ts)
  if (indexable(query) && await noneAfter(storage, query, low - 1)) return undefined
  const range = { from: low, to: head, backwards: false, limit: 1 }
  const source = indexable(query)
    ? new ByPositions(storage, range, () => head, query, undefined, visibility)
    : logChunks(storage, range, () => head, accepting({ query }), visibility)
  try {
    return (await source.next())[0]?.position
  } finally {
    await source.close()
  }
}
