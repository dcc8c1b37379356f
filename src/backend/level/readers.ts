// Reading the level backend: the log in position order from its chunks, one stream in revision
// order from its blocks and the tail, streamed from LevelDB a few records at a time, so memory
// stays flat however long the log. Every record's checksum is verified, and every position
// (every revision of a stream) between the bounds must be there: a missing one is
// ANNALS_CORRUPT naming it, never a silent gap.
import { AnnalsError } from '../../errors.js'
import type { RecordedEvent } from '../../log/types.js'
import { Space, nameBounds, streamKey } from '../../storage/keys.js'
import type { ChunkIterator, Storage } from '../../storage/storage.js'
import type { EventChunks, ReadRange } from '../backend.js'
import { MalformedError } from './bytes.js'
import { corruptChunk, logKey, parseChunk, type Chunk } from './chunk.js'
import { peekEvent, readEvent, type Accept } from './event-record.js'
import { record, type RecordChunks, type StoredRecord } from './stored-records.js'
import type { Visibility } from '../rules.js'
import { corruptBlock, parseBlock, type BlockEvent, type StreamBlock } from './stream-block.js'
import type { StreamIndex } from './stream-index.js'

/** Events handed out by a read's first call, then twice as many each call up to the second. */
const FIRST_EVENTS = 64
const MAX_EVENTS = 1024
/** Records read per native call (up to 1 MiB): a chunk holds up to 128 events, a block up to 1,024. */
const CHUNKS_PER_READ = 16
const BLOCKS_PER_READ = 16

/**
 * Reads an iterator one native call ahead: the next entries are on their way from LevelDB's
 * thread while the caller decodes these (measured: a replay spent a quarter of its time waiting
 * for the next read).
 */
class ReadAhead<T> {
  readonly #it: ChunkIterator<T>
  readonly #size: number
  #next: Promise<T[]> | undefined

  constructor (it: ChunkIterator<T>, size: number) {
    this.#it = it
    this.#size = size
  }

  async nextv (): Promise<T[]> {
    const entries = await (this.#next ?? this.#it.nextv(this.#size))
    this.#next = entries.length === 0 ? undefined : this.#it.nextv(this.#size)
    this.#next?.catch(() => {}) // seen by the next call, if there is one
    return entries
  }

  async close (): Promise<void> {
    await this.#next?.catch(() => {})
    this.#next = undefined
    await this.#it.close()
  }
}

/** Decodes an event, naming where it is when it does not decode. */
export function decodeAt (buffer: Buffer, start: number, end: number, position: number, time: number, accept: Accept | undefined, where: () => AnnalsError, raw = false): RecordedEvent | undefined {
  try {
    return readEvent(buffer, start, end, position, time, accept, raw)
  } catch (err) {
    if (err instanceof MalformedError || !(err instanceof AnnalsError)) throw where()
    throw err
  }
}

/** The log between two positions, in chunks of events (or records). */
class LogChunks<T> {
  readonly #storage: Storage
  readonly #range: ReadRange
  readonly #accept: Accept | undefined
  readonly #head: () => number
  #it: ReadAhead<[Buffer, Buffer]> | undefined
  #low = 0
  #high = -1
  /** the next position expected, in reading order */
  #expected = 0
  #left: number
  #done = false
  /** the entries of the last read, the next to parse, and the chunk being decoded: from #p to #to */
  #entries: Array<[Buffer, Buffer]> = []
  #at = 0
  #chunk: Chunk | undefined
  #p = 0
  #to = 0
  /** events handed out per call: few at first, so that short reads stay cheap */
  #cap = FIRST_EVENTS

  readonly #visibility: Visibility | undefined
  /** events handed out with their data and metadata as stored bytes (see readEvent) */
  readonly #raw: boolean
  /** records handed out, not events (stored-records.ts) */
  readonly #records: boolean

  constructor (storage: Storage, range: ReadRange, head: () => number, accept: Accept | undefined, visibility: Visibility | undefined, raw: boolean, records: boolean) {
    this.#storage = storage
    this.#range = range
    this.#head = head
    this.#raw = raw
    this.#records = records
    // what the rules of streams' lives hide reads no more, whatever else the read keeps
    if (visibility?.active === true) {
      this.#visibility = visibility
      this.#accept = accept === undefined
        ? (h, p, t) => visibility.visible(h.stream, h.revision, p, t)
        : (h, p, t) => visibility.visible(h.stream, h.revision, p, t) && accept(h, p, t)
    } else {
      this.#accept = accept
    }
    this.#left = range.limit
  }

  async #open (): Promise<void> {
    const { from, to, backwards } = this.#range
    const head = this.#head()
    this.#low = (backwards ? to : from) ?? 0
    this.#high = Math.min((backwards ? from : to) ?? head, head)
    this.#expected = backwards ? this.#high : this.#low
    if (this.#low > this.#high) return
    // the chunk holding the lowest position wanted may start before it
    const start = await this.#storage.firstKey({ gte: logKey(0), lte: logKey(this.#low), reverse: true }) ?? logKey(0)
    this.#it = new ReadAhead(this.#storage.entries({ gte: start, lte: logKey(this.#high), reverse: backwards }), CHUNKS_PER_READ)
  }

  async next (): Promise<T[]> {
    if (this.#done) return []
    if (this.#it === undefined) {
      await this.#open()
      if (this.#it === undefined) return await this.#end()
    }
    const backwards = this.#range.backwards
    const accept = this.#accept
    const cap = Math.min(this.#cap, this.#left)
    this.#cap = Math.min(this.#cap * 2, MAX_EVENTS)
    const events: T[] = []
    while (events.length < cap) {
      const chunk = this.#chunk
      if (chunk === undefined || (backwards ? this.#p < this.#to : this.#p > this.#to)) {
        if (!await this.#nextChunk()) break
        continue
      }
      const p = this.#p
      this.#p += backwards ? -1 : 1
      this.#expected = this.#p
      const i = p - chunk.first
      const start = chunk.spans[2 * i]!
      const end = chunk.spans[2 * i + 1]!
      if (start === end) continue // removed
      // two direct calls, not one through a function given to the read: an owner's own read of
      // events, once it has served records, cost 2.6 times the CPU through one
      const event = this.#records
        ? record(chunk.buffer, start, end, p, chunk.time, accept, () => corruptChunk(p, 'its event does not decode')) as T | undefined
        : decodeAt(chunk.buffer, start, end, p, chunk.time, accept, () => corruptChunk(p, 'its event does not decode'), this.#raw) as T | undefined
      if (event !== undefined) events.push(event)
    }
    this.#left -= events.length
    if (events.length === 0 || this.#left <= 0) {
      if (events.length === 0) return await this.#end()
      await this.close()
    }
    return events
  }

  /** Moves to the next chunk in reading order: false at the end (after checking nothing is missing). */
  async #nextChunk (): Promise<boolean> {
    const backwards = this.#range.backwards
    if (this.#at >= this.#entries.length) {
      this.#entries = await this.#it!.nextv()
      this.#at = 0
      if (this.#entries.length === 0) {
        const missing = backwards ? this.#expected >= this.#low : this.#expected <= this.#high
        if (missing) throw corruptChunk(this.#expected, 'it is missing')
        this.#chunk = undefined
        return false
      }
    }
    const [key, value] = this.#entries[this.#at++]!
    const chunk = parseChunk(key, value)
    const last = chunk.first + chunk.count - 1
    // the chunk must hold the position expected next: else positions are missing
    if (chunk.first > this.#expected || last < this.#expected) throw corruptChunk(this.#expected, 'it is missing')
    if (this.#visibility !== undefined) await this.#visibility.prepare(streamsOf(chunk))
    this.#chunk = chunk
    this.#p = this.#expected
    this.#to = backwards ? Math.max(chunk.first, this.#low) : Math.min(last, this.#high)
    return true
  }

  async #end (): Promise<T[]> {
    await this.close()
    return []
  }

  async close (): Promise<void> {
    this.#done = true
    await this.#it?.close()
  }
}

/** Events of the whole log in chunks; with `accept`, only those whose header it accepts; with `visibility`, only those the rules let read. */
export function logChunks (storage: Storage, range: ReadRange, head: () => number, accept?: Accept, visibility?: Visibility, raw = false): EventChunks {
  return new LogChunks<RecordedEvent>(storage, range, head, accept, visibility, raw, false)
}

/** The log's records as stored, in chunks, for a client (net/serve.ts): `accept` and `visibility` as for {@link logChunks}. */
export function logRecords (storage: Storage, range: ReadRange, head: () => number, accept?: Accept, visibility?: Visibility): RecordChunks {
  return new LogChunks<StoredRecord>(storage, range, head, accept, visibility, false, true)
}

/** The streams of a chunk's events. */
function * streamsOf (chunk: Chunk): Generator<string> {
  for (let i = 0; i < chunk.count; i++) {
    const start = chunk.spans[2 * i]!
    const end = chunk.spans[2 * i + 1]!
    if (start !== end) {
      try {
        yield peekEvent(chunk.buffer, start, end).stream
      } catch {} // the read itself reports it
    }
  }
}

/**
 * One stream's events: its blocks on disk, then its tail (backwards: the tail first), each
 * revision checked to follow the one before. A flush between the copy of the tail and the
 * opening of the disk iterator puts some events in both: those already read are passed over.
 */
class StreamChunks implements EventChunks {
  readonly #storage: Storage
  readonly #index: StreamIndex
  readonly #stream: string
  readonly #range: ReadRange
  #it: ReadAhead<[Buffer, Buffer]> | undefined
  #tail: BlockEvent[] = []
  /** the next event of the tail to read */
  #t = 0
  #tailDone = false
  /** the entries of the last read, the next to parse, the block being read and its next event */
  #entries: Array<[Buffer, Buffer]> = []
  #at = 0
  #block: StreamBlock | undefined
  #j = 0
  #cap = FIRST_EVENTS
  #diskDone = false
  #low = 0
  #high = -1
  #expected = 0
  #left: number
  #opened = false
  #done = false

  readonly #blocksPerRead: number
  readonly #visibility: Visibility | undefined
  readonly #raw: boolean

  constructor (storage: Storage, index: StreamIndex, stream: string, range: ReadRange, blocksPerRead: number, visibility: Visibility | undefined, raw: boolean) {
    this.#raw = raw
    this.#storage = storage
    this.#index = index
    this.#stream = stream
    this.#range = range
    this.#left = range.limit
    this.#blocksPerRead = blocksPerRead
    this.#visibility = visibility?.active === true ? visibility : undefined
  }

  async #open (): Promise<void> {
    this.#opened = true
    const { from, to, backwards } = this.#range
    const bounds = nameBounds(Space.streams, this.#stream)
    const visibility = this.#visibility
    if (visibility !== undefined) {
      if (visibility.tombstoned(this.#stream)) {
        this.#done = true
        return
      }
      await visibility.prepare([this.#stream])
    }
    // the start of the disk read: the block holding the lowest revision wanted (deleted and
    // truncated revisions are not read at all)
    const low = Math.max((backwards ? to : from) ?? 0, visibility?.firstRevision(this.#stream) ?? 0)
    const start = low === 0 ? bounds.gte : await this.#storage.firstKey({ gte: bounds.gte, lte: streamKey(this.#stream, low), reverse: true }) ?? bounds.gte
    // the tail is copied, then the disk iterator opened: every committed event is in one or the
    // other (or both, just after a flush). The stream's last revision is the tail's, or when the
    // tail is empty the summary's, read after the copy: one read before could predate a flush
    // that emptied the tail meanwhile, and the read would end early without noticing
    this.#tail = this.#index.tail(this.#stream)
    const last = this.#tail.length > 0 ? this.#tail[this.#tail.length - 1]!.revision : (await this.#index.summary(this.#stream))?.revision ?? -1
    this.#low = low
    this.#high = Math.min((backwards ? from : to) ?? last, last)
    this.#expected = backwards ? this.#high : this.#low
    if (this.#low > this.#high) {
      this.#done = true
      return
    }
    this.#it = new ReadAhead(this.#storage.entries({ gte: start, lte: streamKey(this.#stream, this.#high), reverse: backwards }), this.#blocksPerRead)
    if (backwards) this.#tail.reverse()
  }

  async next (): Promise<RecordedEvent[]> {
    if (!this.#opened) await this.#open()
    const backwards = this.#range.backwards
    // few events at first, then more each call: a short read answers fast, a long one holds
    // at most MAX_EVENTS decoded events at a time
    const cap = Math.min(this.#cap, this.#left)
    this.#cap = Math.min(this.#cap * 2, MAX_EVENTS)
    const events: RecordedEvent[] = []
    while (!this.#done && this.#left > 0 && events.length < cap) {
      if (backwards && !this.#tailDone) {
        this.#fromTail(events, cap)
      } else if (!this.#diskDone) {
        const block = this.#block
        if (block !== undefined && this.#j < block.count) {
          this.#fromBlock(block, events, cap)
          continue
        }
        if (this.#at >= this.#entries.length) {
          this.#entries = await this.#it!.nextv()
          this.#at = 0
          if (this.#entries.length === 0) {
            this.#diskDone = true
            this.#block = undefined
            continue
          }
        }
        const [key, value] = this.#entries[this.#at++]!
        this.#block = parseBlock(this.#stream, key, value)
        this.#j = 0
      } else if (!backwards && !this.#tailDone) {
        this.#fromTail(events, cap)
      } else {
        const missing = backwards ? this.#expected >= this.#low : this.#expected <= this.#high
        if (missing) throw this.#missing()
        break
      }
    }
    if (events.length === 0) await this.close()
    return events
  }

  /** Takes the event at `revision` if it is the one expected next; false once past the bounds. */
  #take (revision: number): boolean {
    const backwards = this.#range.backwards
    if (backwards ? revision > this.#expected : revision < this.#expected) return false // read already
    if (revision !== this.#expected) throw this.#missing()
    this.#expected += backwards ? -1 : 1
    return true
  }

  /** Events of the block being read, from the next one on, until `out` holds `cap`. */
  #fromBlock (block: StreamBlock, out: RecordedEvent[], cap: number): void {
    const backwards = this.#range.backwards
    for (; this.#j < block.count && this.#left > 0 && out.length < cap; this.#j++) {
      const i = backwards ? block.count - 1 - this.#j : this.#j
      const revision = block.first + i
      if (revision < this.#low || revision > this.#high) continue
      if (!this.#take(revision)) continue
      const start = block.spans[2 * i]!
      const end = block.spans[2 * i + 1]!
      if (start === end) continue // removed
      if (this.#visibility?.visible(this.#stream, revision, block.positions[i]!, block.times[i]!) === false) continue
      out.push(this.#decode(block.buffer, start, end, block.positions[i]!, block.times[i]!, revision))
    }
  }

  /** Events of the tail, from the next one on, until `out` holds `cap`; then the tail is done. */
  #fromTail (out: RecordedEvent[], cap: number): void {
    const tail = this.#tail
    for (; this.#t < tail.length && this.#left > 0 && out.length < cap; this.#t++) {
      const e = tail[this.#t]!
      if (e.revision < this.#low || e.revision > this.#high) continue
      if (!this.#take(e.revision)) continue
      if (this.#visibility?.visible(this.#stream, e.revision, e.position, e.time) === false) continue
      out.push(this.#decode(e.bytes, 0, e.bytes.length, e.position, e.time, e.revision))
    }
    if (this.#t >= tail.length) this.#tailDone = true
  }

  #decode (buffer: Buffer, start: number, end: number, position: number, time: number, revision: number): RecordedEvent {
    const event = decodeAt(buffer, start, end, position, time, undefined, () => corruptBlock(this.#stream, `revision ${revision} does not decode`), this.#raw)!
    if (event.stream !== this.#stream || event.revision !== revision) {
      throw corruptBlock(this.#stream, `revision ${revision} holds another event (${event.stream}@${event.revision})`)
    }
    this.#left--
    return event
  }

  #missing (): AnnalsError {
    return corruptBlock(this.#stream, `revision ${this.#expected} is missing`)
  }

  async close (): Promise<void> {
    this.#done = true
    this.#left = 0
    await this.#it?.close()
  }
}

/**
 * One stream's events in chunks; `blocksPerRead` blocks of it read per call to LevelDB (fewer
 * keep memory small where many streams are read at once).
 */
export function streamChunks (storage: Storage, index: StreamIndex, stream: string, range: ReadRange, blocksPerRead = BLOCKS_PER_READ, visibility?: Visibility, raw = false): EventChunks {
  return new StreamChunks(storage, index, stream, range, blocksPerRead, visibility, raw)
}
