// Importing a log: events written as they were in the database they came from, at their
// positions, with their revisions, commit times and ids, rather than as new appends. Used by
// `annals import`, which reads what `annals export` wrote. The import checks each event as
// the writer would (names, types, ids, sizes) and that the events make a log: positions from 0
// without gaps, revisions from 0 without gaps in each stream, times that never decrease, ids
// used once. It writes batches of records with their id index entries and the stream index,
// as the writer does, and can undo everything it wrote.
import { AnnalsError } from '../errors.js'
import { UnencodableError } from '../storage/codec.js'
import { Space, logKey, namedKey, spaceEnd, spaceStart, u64 } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { formatEventId, positionInEventId } from './event-id.js'
import { findById } from './idempotency.js'
import { encodeRecord } from './record.js'
import { RevisionCache } from './revision-cache.js'
import { INDEXED_KEY, StreamIndex, type StreamRun } from './stream-index.js'
import type { RecordedEvent } from './types.js'
import { checkEvents, checkStream } from './validate.js'

/** An event to import: a recorded event, its data as it is to be stored. */
export type ImportedEvent = Omit<RecordedEvent, 'redacted'>

/** Streams whose revision is kept in memory during an import. */
const REVISION_CACHE_SIZE = 65536

/**
 * Writes whole events into an empty log. Give it events in position order with {@link add},
 * in batches of any size; {@link finish} writes the rest of the stream index. On a failure,
 * {@link abort} removes what was written, leaving the log empty again.
 */
export class Importer {
  readonly #storage: Storage
  readonly #index: StreamIndex
  readonly #maxEventSize: number
  readonly #revisions = new RevisionCache(REVISION_CACHE_SIZE)
  /** the next position expected, and the time of the last event */
  #next = 0
  #time = 0

  private constructor (storage: Storage, index: StreamIndex, maxEventSize: number) {
    this.#storage = storage
    this.#index = index
    this.#maxEventSize = maxEventSize
  }

  /** An importer into `storage`, whose log must be empty (a `TypeError` otherwise). */
  static async start (storage: Storage, maxEventSize: number): Promise<Importer> {
    for (const space of [Space.log, Space.streams, Space.ids]) {
      if (await storage.firstKey({ gte: spaceStart(space), lt: spaceEnd(space) }) !== undefined) {
        throw new TypeError('An import needs a database without events')
      }
    }
    const index = await StreamIndex.open(storage, async () => {})
    return new Importer(storage, index, maxEventSize)
  }

  /** How many events were imported so far. */
  get count (): number {
    return this.#next
  }

  /**
   * Checks the events and writes them in one batch. An event that is not the next of the log
   * fails the whole call with `ANNALS_INVALID_EVENT` (`ANNALS_DUPLICATE_ID` for an id already
   * used, `ANNALS_EVENT_TOO_LARGE`), naming its position, and writes nothing of the batch.
   */
  async add (events: readonly ImportedEvent[]): Promise<void> {
    if (events.length === 0) return
    const batch = this.#storage.batch()
    const runs: StreamRun[] = []
    const revisions = new Map<string, number>()
    const ids = new Map<string, number>()
    try {
      let position = this.#next
      let time = this.#time
      for (const e of events) {
        const at = `The event at position ${String(e.position)}`
        if (e.position !== position) {
          throw invalid(`${at} comes where position ${position} was expected: an import holds a whole log, from position 0, in order, without gaps`)
        }
        if (!Number.isSafeInteger(e.time) || e.time < time) {
          throw invalid(`${at} has time ${String(e.time)}: times are milliseconds since the epoch and never decrease (the event before has ${time})`)
        }
        const stream = checked(at, () => checkStream(e.stream))
        const [event] = checked(at, () => checkEvents([{ type: e.type, data: e.data, metadata: e.metadata, id: e.id }]))
        const id = event!.id!
        const current = revisions.get(stream) ?? this.#revisions.get(stream) ?? await this.#index.revision(stream)
        if (e.revision !== current + 1) {
          throw invalid(`${at} has revision ${String(e.revision)} of stream '${stream}', whose next revision is ${current + 1}`)
        }
        if (ids.has(id)) throw new AnnalsError('ANNALS_DUPLICATE_ID', `${at} has the id '${id}' of the event at position ${ids.get(id)!}`)
        ids.set(id, position)
        // a generated id is stored as its random bits, as the writer stores it
        const bits = parseInt(id.slice(-6), 16) & 0x1fffff
        const carried = positionInEventId(id) === position
        const generated = carried && formatEventId(e.time, position, bits) === id
        let record: Buffer
        try {
          record = encodeRecord({ id: generated ? bits : id, stream, revision: e.revision, type: event!.type, time: e.time, data: event!.data, metadata: event!.metadata })
        } catch (err) {
          if (!(err instanceof UnencodableError)) throw err
          throw new AnnalsError('ANNALS_INVALID_EVENT', `${at} cannot be stored: ${err.message}`, { cause: err })
        }
        if (record.length > this.#maxEventSize) {
          throw new AnnalsError('ANNALS_EVENT_TOO_LARGE', `${at} takes ${record.length} bytes, over maxEventSize (${this.#maxEventSize})`)
        }
        batch.put(logKey(position), record)
        if (!carried) batch.put(namedKey(Space.ids, id), u64(position))
        const run = runs.at(-1)
        if (run !== undefined && run.stream === stream) run.count++
        else runs.push({ stream, revision: e.revision, position, count: 1 })
        revisions.set(stream, e.revision)
        time = e.time
        position++
      }
      const stored = await findById(this.#storage, [...ids.keys()], this.#next - 1)
      for (const [id, p] of stored) {
        throw new AnnalsError('ANNALS_DUPLICATE_ID', `The event at position ${ids.get(id)!} has the id '${id}' of the event at position ${p.position}`)
      }
      const indexed = this.#index.stage(batch, runs, position - 1)
      await batch.write(false)
      indexed()
      for (const [stream, revision] of revisions) this.#revisions.set(stream, revision)
      this.#next = position
      this.#time = time
    } catch (err) {
      await batch.close()
      throw err
    }
  }

  /** Writes the stream index's waiting part, and makes everything durable on disk. */
  async finish (): Promise<void> {
    if (this.#next === 0) return
    const batch = this.#storage.batch()
    const indexed = this.#index.stage(batch, [], this.#next - 1, true)
    await batch.write(true)
    indexed()
  }

  /** Removes everything the import wrote: the log is empty again. */
  async abort (): Promise<void> {
    for (const space of [Space.log, Space.streams, Space.ids]) {
      const it = this.#storage.keys({ gte: spaceStart(space), lt: spaceEnd(space) })
      try {
        for (let keys = await it.nextv(1024); keys.length > 0; keys = await it.nextv(1024)) {
          await this.#storage.write(keys.map(key => ({ key })), false)
        }
      } finally {
        await it.close()
      }
    }
    await this.#storage.write([{ key: INDEXED_KEY }], true)
  }
}

function invalid (message: string): AnnalsError {
  return new AnnalsError('ANNALS_INVALID_EVENT', message)
}

/** Runs a check of the writer's, naming the event in its message; type errors are invalid events here. */
function checked<T> (at: string, check: () => T): T {
  try {
    return check()
  } catch (err) {
    const code = err instanceof AnnalsError ? err.code : 'ANNALS_INVALID_EVENT'
    throw new AnnalsError(code, `${at}: ${(err as Error).message}`, { cause: err })
  }
}
