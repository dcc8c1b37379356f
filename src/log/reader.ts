// Reading the log: the whole log in position order, or one stream in revision order, streamed
// from LevelDB in chunks (one native call per chunk), so memory stays flat however long the log.
import { AnnalsError } from '../errors.js'
import { Space, logKey, readU64, streamBounds, streamKey } from '../storage/keys.js'
import type { ChunkIterator, KeyRange, Storage } from '../storage/storage.js'
import { decodeRecord } from './record.js'
import { decodeEntry, type Run, type StreamIndex } from './stream-index.js'
import type { RecordedEvent } from './types.js'

/** A source of events in chunks; an empty chunk means the end. */
export interface EventChunks {
  next (): Promise<RecordedEvent[]>
  close (): Promise<void>
}

/** Normalised bounds of a read: inclusive, `from` first in reading order. */
export interface ReadRange {
  from: number | undefined
  to: number | undefined
  backwards: boolean
  limit: number
}

const FIRST_CHUNK = 64
const MAX_CHUNK = 1024

/** Key bounds for positions or revisions `from`..`to` (inclusive, in reading order). */
function bounds (range: ReadRange, key: (n: number) => Buffer, start: Buffer, end: Buffer): KeyRange {
  const low = range.backwards ? range.to : range.from
  const high = range.backwards ? range.from : range.to
  return {
    gte: low === undefined ? start : key(low),
    ...(high === undefined || high === Infinity ? { lt: end } : { lte: key(high) }),
    reverse: range.backwards
  }
}

/** Reads chunks of an iterator, growing the chunk size so short reads stay cheap. */
abstract class ChunkedSource<T> implements EventChunks {
  readonly #it: ChunkIterator<T>
  #size: number
  #left: number

  constructor (it: ChunkIterator<T>, limit: number) {
    this.#it = it
    this.#left = limit
    this.#size = Math.min(FIRST_CHUNK, limit)
  }

  async next (): Promise<RecordedEvent[]> {
    while (this.#left > 0) {
      const entries = await this.#it.nextv(Math.min(this.#size, this.#left))
      if (entries.length === 0) break
      this.#size = Math.min(this.#size * 2, MAX_CHUNK)
      let events = await this.decode(entries)
      if (events.length > this.#left) events = events.slice(0, this.#left)
      this.#left -= events.length
      if (events.length > 0) return events
    }
    await this.close()
    return []
  }

  async close (): Promise<void> {
    this.#left = 0
    await this.#it.close()
  }

  protected abstract decode (entries: T[]): Promise<RecordedEvent[]> | RecordedEvent[]
}

class LogChunks extends ChunkedSource<[Buffer, Buffer]> {
  readonly #types: ReadonlySet<string> | undefined

  constructor (storage: Storage, range: ReadRange, types: ReadonlySet<string> | undefined) {
    const keyRange = bounds(range, logKey, logKey(0), Buffer.from([Space.log + 1]))
    // without a type filter, the iterator itself can stop at the limit
    if (types === undefined && range.limit !== Infinity) keyRange.limit = range.limit
    super(storage.entries(keyRange), range.limit)
    this.#types = types
  }

  protected decode (entries: Array<[Buffer, Buffer]>): RecordedEvent[] {
    const types = this.#types
    const events: RecordedEvent[] = []
    for (const [key, value] of entries) {
      const position = readU64(key, 1)!
      const event = decodeRecord(position, value)
      if (types === undefined || types.has(event.type)) events.push(event)
    }
    return events
  }
}

/** Runs shorter than this are fetched with one multi-get per chunk; longer ones by a range scan. */
const SCAN_RUN = 32

/**
 * One stream's events: walks the stream index on disk and the tail not yet written there (see
 * stream-index.ts), clips each run to the revisions asked for, and reads the records of a chunk
 * in one round trip. Forwards, the disk comes first, then the tail; backwards, the other way.
 */
class StreamChunks implements EventChunks {
  readonly #storage: Storage
  readonly #index: StreamIndex
  readonly #stream: string
  readonly #low: number
  readonly #high: number
  readonly #backwards: boolean
  #disk: ChunkIterator<[Buffer, Buffer]> | undefined
  #diskDone = false
  /** the tail as it was when the disk iterator opened; undefined once read */
  #tail: Run[] | undefined
  /** forwards: the last revision seen on disk */
  #seen = -1
  /** clipped runs not yet read, in reading order */
  #runs: Run[] = []
  #left: number
  #size: number

  constructor (storage: Storage, index: StreamIndex, stream: string, range: ReadRange) {
    this.#storage = storage
    this.#index = index
    this.#stream = stream
    this.#backwards = range.backwards
    this.#low = (range.backwards ? range.to : range.from) ?? 0
    this.#high = (range.backwards ? range.from : range.to) ?? Infinity
    this.#left = range.limit
    this.#size = Math.min(FIRST_CHUNK, range.limit)
  }

  async next (): Promise<RecordedEvent[]> {
    if (this.#left <= 0 || this.#low > this.#high) return await this.#end()
    if (this.#disk === undefined) await this.#open()
    const pieces = await this.#take(Math.min(this.#size, this.#left))
    if (pieces.length === 0) return await this.#end()
    this.#size = Math.min(this.#size * 2, MAX_CHUNK)
    const events = await this.#read(pieces)
    this.#left -= events.length
    return events
  }

  async close (): Promise<void> {
    this.#left = 0
    await this.#disk?.close()
  }

  async #end (): Promise<RecordedEvent[]> {
    await this.close()
    return []
  }

  async #open (): Promise<void> {
    const { gte, lt } = streamBounds(this.#stream)
    const high = this.#high === Infinity ? { lt } : { lte: streamKey(this.#stream, this.#high) }
    let start = gte
    if (!this.#backwards && this.#low > 0) {
      // start at the block that holds the lowest revision wanted, which may begin before it
      start = await this.#storage.firstKey({ gte, lte: streamKey(this.#stream, this.#low), reverse: true }) ?? gte
    }
    // the disk iterator sees the disk as it is now; the tail is copied at the same moment, so
    // every committed event is in one or the other (or, just after a flush, both: see #seen)
    this.#disk = this.#storage.entries({ gte: start, ...high, reverse: this.#backwards })
    this.#tail = this.#index.tail(this.#stream)
  }

  /** Takes up to `want` events' worth of clipped runs. */
  async #take (want: number): Promise<Run[]> {
    const pieces: Run[] = []
    while (want > 0) {
      while (this.#runs.length === 0) {
        if (!await this.#refill(want)) return pieces
      }
      const run = this.#runs[0]!
      const n = Math.min(run.count, want)
      if (this.#backwards) {
        // read from the top of the run down
        pieces.push({ revision: run.revision + run.count - n, position: run.position + run.count - n, count: n })
      } else {
        pieces.push({ revision: run.revision, position: run.position, count: n })
        run.revision += n
        run.position += n
      }
      run.count -= n
      if (run.count === 0) this.#runs.shift()
      want -= n
    }
    return pieces
  }

  /** Queues more clipped runs, from the disk or the tail in reading order; false at the end. */
  async #refill (want: number): Promise<boolean> {
    if (!this.#diskDone) {
      // each entry is at least one event: `want` entries cover the chunk
      const entries = await this.#disk!.nextv(Math.max(want, 16))
      if (entries.length === 0) this.#diskDone = true
      const blocks = entries.map(([key, value]) => decodeEntry(key, value, this.#stream))
      if (this.#backwards) {
        if (this.#tail !== undefined) {
          // the tail is newer than the disk, unless a flush has just written it there too
          const top = blocks[0]?.at(-1)
          const tail = this.#tail
          this.#tail = undefined
          if (tail.length > 0 && (top === undefined || top.revision + top.count <= tail[0]!.revision)) {
            this.#queue(tail.reverse(), this.#low, this.#high)
          }
        }
        for (const runs of blocks) {
          const first = runs[0]!
          if (first.revision + first.count - 1 < this.#low) this.#diskDone = true
          this.#queue(runs.reverse(), this.#low, this.#high)
        }
      } else {
        for (const runs of blocks) {
          const last = runs.at(-1)!
          this.#seen = Math.max(this.#seen, last.revision + last.count - 1)
          this.#queue(runs, this.#low, this.#high)
        }
      }
      return true
    }
    if (!this.#backwards && this.#tail !== undefined) {
      // forwards the tail comes last; after a flush, the disk already had some or all of it
      this.#queue(this.#tail, Math.max(this.#low, this.#seen + 1), this.#high)
      this.#tail = undefined
      return true
    }
    return false
  }

  /** Queues the parts of `runs` (in reading order) within revisions `low`..`high`. */
  #queue (runs: Run[], low: number, high: number): void {
    for (const run of runs) {
      const from = Math.max(run.revision, low)
      const to = Math.min(run.revision + run.count - 1, high)
      if (from <= to) this.#runs.push({ revision: from, position: run.position + from - run.revision, count: to - from + 1 })
    }
  }

  /** Reads the records of the pieces, short ones in one multi-get, long ones by range scans. */
  async #read (pieces: Run[]): Promise<RecordedEvent[]> {
    const single: number[] = []
    for (const p of pieces) {
      if (p.count < SCAN_RUN) for (let i = 0; i < p.count; i++) single.push(p.position + i)
    }
    const [gotten, scanned] = await Promise.all([
      this.#storage.getMany(single.map(logKey)),
      Promise.all(pieces.map(async p => p.count < SCAN_RUN ? undefined : await this.#scan(p)))
    ])
    const events: RecordedEvent[] = []
    let g = 0 // next of `gotten`, which is in the order of `single`
    pieces.forEach((p, k) => {
      const values = scanned[k]
      const base = g
      if (values === undefined) g += p.count
      for (let j = 0; j < p.count; j++) {
        const i = this.#backwards ? p.count - 1 - j : j
        const bytes = values === undefined ? gotten[base + i] : values[i]
        events.push(this.#decode(p.position + i, p.revision + i, bytes))
      }
    })
    return events
  }

  async #scan (p: Run): Promise<Array<Buffer | undefined>> {
    const it = this.#storage.values({ gte: logKey(p.position), lte: logKey(p.position + p.count - 1) })
    try {
      // one nextv may give fewer than asked: classic-level stops at 16 KiB (highWaterMarkBytes)
      let values = await it.nextv(p.count)
      while (values.length < p.count) {
        const more = await it.nextv(p.count - values.length)
        if (more.length === 0) break
        values = values.concat(more)
      }
      return values
    } finally {
      await it.close()
    }
  }

  #decode (position: number, revision: number, bytes: Buffer | undefined): RecordedEvent {
    const event = bytes === undefined ? undefined : decodeRecord(position, bytes)
    if (event?.stream !== this.#stream || event.revision !== revision) {
      throw new AnnalsError('ANNALS_CORRUPT', `The index of stream '${this.#stream}' puts revision ${revision} at position ${position}, which ${event === undefined ? 'is missing' : 'holds another event'}`)
    }
    return event
  }
}

/** One stream's events in chunks. */
export function streamChunks (storage: Storage, index: StreamIndex, stream: string, range: ReadRange): EventChunks {
  return new StreamChunks(storage, index, stream, range)
}

/** Events of the whole log in chunks. */
export function logChunks (storage: Storage, range: ReadRange, types?: ReadonlySet<string>): EventChunks {
  return new LogChunks(storage, range, types)
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
