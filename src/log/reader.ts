// Reading the log: the whole log in position order, or one stream in revision order, streamed
// from LevelDB in chunks (one native call per chunk), so memory stays flat however long the log.
import { AnnalsError } from '../errors.js'
import { Space, logKey, parseRun, readU64, streamBounds, streamKey, type Run } from '../storage/keys.js'
import type { ChunkIterator, KeyRange, Storage } from '../storage/storage.js'
import { decodeRecord } from './record.js'
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
 * One stream's events: walks the stream index (one entry per run of consecutive positions),
 * clips each run to the revisions asked for, and reads the records of a chunk in one round trip.
 */
class StreamChunks implements EventChunks {
  readonly #storage: Storage
  readonly #stream: string
  readonly #low: number
  readonly #high: number
  readonly #backwards: boolean
  #index: ChunkIterator<[Buffer, Buffer]> | undefined
  #indexDone = false
  /** clipped runs not yet read, in reading order */
  #runs: Run[] = []
  #left: number
  #size: number

  constructor (storage: Storage, stream: string, range: ReadRange) {
    this.#storage = storage
    this.#stream = stream
    this.#backwards = range.backwards
    this.#low = (range.backwards ? range.to : range.from) ?? 0
    this.#high = (range.backwards ? range.from : range.to) ?? Infinity
    this.#left = range.limit
    this.#size = Math.min(FIRST_CHUNK, range.limit)
  }

  async next (): Promise<RecordedEvent[]> {
    if (this.#left <= 0 || this.#low > this.#high) return await this.#end()
    this.#index ??= await this.#openIndex()
    const want = Math.min(this.#size, this.#left)
    const pieces = await this.#take(want)
    if (pieces.length === 0) return await this.#end()
    this.#size = Math.min(this.#size * 2, MAX_CHUNK)
    const events = await this.#read(pieces)
    this.#left -= events.length
    return events
  }

  async close (): Promise<void> {
    this.#left = 0
    await this.#index?.close()
  }

  async #end (): Promise<RecordedEvent[]> {
    await this.close()
    return []
  }

  async #openIndex (): Promise<ChunkIterator<[Buffer, Buffer]>> {
    const { gte, lt } = streamBounds(this.#stream)
    const highKey = this.#high === Infinity ? undefined : streamKey(this.#stream, this.#high)
    if (this.#backwards) {
      return this.#storage.entries({ gte, ...(highKey === undefined ? { lt } : { lte: highKey }), reverse: true })
    }
    // start at the run that holds the lowest revision wanted, which may begin before it
    let start = gte
    if (this.#low > 0) {
      const before = await this.#storage.firstKey({ gte, lte: streamKey(this.#stream, this.#low), reverse: true })
      if (before !== undefined) start = before
    }
    return this.#storage.entries({ gte: start, ...(highKey === undefined ? { lt } : { lte: highKey }) })
  }

  /** Takes up to `want` events' worth of clipped runs, reading the index as needed. */
  async #take (want: number): Promise<Run[]> {
    const pieces: Run[] = []
    while (want > 0) {
      if (this.#runs.length === 0) {
        if (this.#indexDone) break
        // each entry is at least one event: `want` entries cover the chunk
        const entries = await this.#index!.nextv(Math.max(want, 16))
        if (entries.length === 0) {
          this.#indexDone = true
          break
        }
        for (const [key, value] of entries) {
          const run = this.#clip(key, value)
          if (run === null) {
            this.#indexDone = true
            break
          }
          if (run !== undefined) this.#runs.push(run)
        }
        continue
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

  /** The part of an index entry within the revisions wanted; undefined to skip it, null past the end. */
  #clip (key: Buffer, value: Buffer): Run | undefined | null {
    const run = parseRun(key, value)
    if (run === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The index of stream '${this.#stream}' holds a malformed entry`)
    const last = run.revision + run.count - 1
    if (this.#backwards ? last < this.#low : run.revision > this.#high) return null
    const from = Math.max(run.revision, this.#low)
    const to = Math.min(last, this.#high)
    if (from > to) return this.#backwards ? null : undefined
    return { revision: from, position: run.position + from - run.revision, count: to - from + 1 }
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
      return await it.nextv(p.count)
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

/** Events of the whole log in chunks. */
export function logChunks (storage: Storage, range: ReadRange, types?: ReadonlySet<string>): EventChunks {
  return new LogChunks(storage, range, types)
}

/** Events of one stream in chunks. */
export function streamChunks (storage: Storage, stream: string, range: ReadRange): EventChunks {
  return new StreamChunks(storage, stream, range)
}

/**
 * An async iterable over a chunk source, created lazily on first `next()` so that errors in
 * starting a read surface as a rejected `next()` like every other failure.
 */
export class EventIterator implements AsyncIterableIterator<RecordedEvent> {
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

  [Symbol.asyncIterator] (): this {
    return this
  }
}
