// The log: one writer, readers, and where the log stands. Checked input goes in (see
// validate.ts); events come out.
import { AnnalsError } from '../errors.js'
import { decode, encode } from '../storage/codec.js'
import { Space, logKey, namedKey, readU64, spaceEnd } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { logChunks, streamChunks, type EventChunks, type ReadRange } from './reader.js'
import { decodeRecord } from './record.js'
import type { AppendResult, ExpectedRevision } from './types.js'
import type { AppendHook, EventTransform } from './hooks.js'
import { StreamIndex } from './stream-index.js'
import { positionAt } from './time.js'
import type { PendingEvent } from './validate.js'
import { Writer, type CommitListener, type LogHead, type WriterOptions } from './writer.js'

/** The on-disk layout this code reads and writes. */
export const FORMAT_VERSION = 1
const FORMAT_KEY = namedKey(Space.meta, 'format')

export class Log {
  readonly storage: Storage
  readonly #index: StreamIndex
  readonly #writer: Writer
  #transform: EventTransform | undefined

  private constructor (storage: Storage, index: StreamIndex, writer: Writer) {
    this.storage = storage
    this.#index = index
    this.#writer = writer
  }

  /** Opens the log on `storage`: checks the format, finds the head. */
  static async open (storage: Storage, options: WriterOptions): Promise<Log> {
    const stored = await storage.get(FORMAT_KEY)
    const head = await readHead(storage)
    if (stored === undefined) {
      if (head.position >= 0) throw new AnnalsError('ANNALS_CORRUPT', 'The database has events but no format marker')
      await storage.write([{ key: FORMAT_KEY, value: encode(FORMAT_VERSION) }], false)
    } else {
      let format: unknown
      try {
        format = decode(stored)
      } catch (err) {
        throw new AnnalsError('ANNALS_CORRUPT', 'The format marker does not decode', { cause: err })
      }
      if (format !== FORMAT_VERSION) {
        throw new AnnalsError('ANNALS_UNSUPPORTED_FORMAT', `The database has format ${String(format)}; this annals reads format ${FORMAT_VERSION}`)
      }
    }
    // events after the stream index's marker are known from their records alone
    const index = await StreamIndex.open(storage, async (from, add) => {
      if (from > head.position) return
      const chunks = logChunks(storage, { from, to: head.position, backwards: false, limit: Infinity })
      for (let chunk = await chunks.next(); chunk.length > 0; chunk = await chunks.next()) {
        for (const e of chunk) add(e.stream, e.revision, e.position)
      }
    })
    return new Log(storage, index, new Writer(storage, index, head, options))
  }

  /** The last committed position (-1 when the log is empty) and its commit time. */
  get head (): LogHead {
    return this.#writer.head
  }

  append (stream: string, events: PendingEvent[], expected: ExpectedRevision, sync: boolean | undefined): Promise<AppendResult> {
    return this.#writer.append(stream, events, expected, sync)
  }

  async revision (stream: string): Promise<number> {
    return await this.#writer.revision(stream)
  }

  /** The last position committed at or before `time` (ms since the epoch), or -1: a binary search, no scan. */
  async positionAt (time: number): Promise<number> {
    return await positionAt(this.storage, this.#writer.head, time)
  }

  /** The last revision of `stream` at or before `position` in the log, or -1. */
  async revisionAt (stream: string, position: number): Promise<number> {
    return await this.#index.revisionAt(stream, position)
  }

  /**
   * The whole log in chunks, as callers see it; with `stored`, as records hold it (personal
   * fields sealed), for layers that derive data to store (views, snapshots).
   */
  chunks (range: ReadRange, types?: ReadonlySet<string>, stored = false): EventChunks {
    const source = logChunks(this.storage, range, types)
    return stored ? source : this.#opened(source)
  }

  /** One stream in chunks, as callers see it, or with `stored` as records hold it. */
  streamChunks (stream: string, range: ReadRange, stored = false): EventChunks {
    const source = streamChunks(this.storage, this.#index, stream, range)
    return stored ? source : this.#opened(source)
  }

  /** Sets the transform between events and records; every read and write goes through it. */
  setTransform (transform: EventTransform | undefined): void {
    this.#transform = transform
    this.#writer.setTransform(transform)
  }

  /** Sets the hook every append goes through as it joins a batch. */
  setHook (hook: AppendHook | undefined): void {
    this.#writer.setHook(hook)
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
    return this.#writer.onCommit(listener)
  }

  /** Waits for queued appends to be written, then writes the stream index's waiting part. */
  async close (): Promise<void> {
    await this.#writer.flushIndex()
  }
}

async function readHead (storage: Storage): Promise<LogHead> {
  const last = await storage.firstEntry({ gte: logKey(0), lt: spaceEnd(Space.log), reverse: true })
  if (last === undefined) return { position: -1, time: 0 }
  const position = readU64(last[0], 1)
  if (position === undefined) throw new AnnalsError('ANNALS_CORRUPT', 'The last log key is malformed')
  return { position, time: decodeRecord(position, last[1]).time }
}
