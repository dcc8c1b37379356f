// The level backend: the log and the key spaces in one abstract-level database (LevelDB
// through classic-level for a folder). Composes the door (door.ts), the writer (writer.ts),
// the streams' blocks (stream-index.ts) and the readers (readers.ts).
import type { WriterFigures } from '../../diagnostics/figures.js'
import { AnnalsError } from '../../errors.js'
import { decode, encode } from '../../storage/codec.js'
import { Space, spaceEnd } from '../../storage/keys.js'
import type {
  AppendHook, AppendManyRequest, AppendRequest, Backend, CommitListener, EventChunks, Lock, LogFilter, LogHead, LogImporter, ReadRange,
  ScavengeReport, StreamListOptions, StreamRule, StreamSummary
} from '../backend.js'
import { Rules, Visibility } from '../rules.js'
import { compactPending } from './compaction.js'
import { scavenge } from './scavenge.js'
import { filteredChunks, firstConflict } from './filtered.js'
import { LocalCoordination } from '../local-coordination.js'
import type { AppendResult } from '../../log/types.js'
import { logKey, parseChunk } from './chunk.js'
import { FORMAT_KEY, FORMAT_VERSION, UPGRADES_FROM } from './format.js'
import { ensureTagHeads } from './tags.js'
import { LevelDoor, type AnyLevel } from './door.js'
import { LevelImporter } from './import.js'
import { peekEvent } from './event-record.js'
import { logChunks, logRecords, streamChunks } from './readers.js'
import type { RecordChunks } from './stored-records.js'
import { listStreams } from './stream-list.js'
import { StreamIndex } from './stream-index.js'
import { positionAt } from './time.js'
import { LevelWriter } from './writer.js'


/** Options of the level backend. */
export interface LevelOptions {
  /** Default `sync` for appends that do not say. */
  sync: boolean
}

export class LevelBackend implements Backend {
  readonly storage: LevelDoor
  readonly #index: StreamIndex
  readonly #writer: LevelWriter
  readonly #rules: Rules
  /** the locks and notices of the processes using this database (this one, and its clients) */
  readonly coordination = new LocalCoordination()

  private constructor (door: LevelDoor, index: StreamIndex, writer: LevelWriter, rules: Rules) {
    this.storage = door
    this.#index = index
    this.#writer = writer
    this.#rules = rules
  }

  /** What one read sees of the rules of streams' lives. */
  #visibility (): Visibility {
    return new Visibility(this.#rules, async stream => await this.#writer.revision(stream))
  }

  /** Opens classic-level in a folder (created if need be). */
  static async openPath (location: string, options: LevelOptions): Promise<LevelBackend> {
    return await LevelBackend.#open(await LevelDoor.openPath(location), options)
  }

  /** Opens on an abstract-level database the caller owns. */
  static async openLevel (db: AnyLevel, options: LevelOptions): Promise<LevelBackend> {
    return await LevelBackend.#open(await LevelDoor.openLevel(db), options)
  }

  static async #open (door: LevelDoor, options: LevelOptions): Promise<LevelBackend> {
    try {
      await checkFormat(door)
      await ensureTagHeads(door)
      const head = await readHead(door)
      // events after the blocks' marker are known from their chunks alone
      const index = await StreamIndex.open(door, async (from, add) => {
        if (from > head.position) return
        const it = door.entries({ gte: (await door.firstKey({ lte: logKey(from), gte: logKey(0), reverse: true })) ?? logKey(0), lt: spaceEnd(Space.log) })
        try {
          for (let entries = await it.nextv(64); entries.length > 0; entries = await it.nextv(64)) {
            for (const [key, value] of entries) {
              const chunk = parseChunk(key, value)
              for (let i = 0; i < chunk.count; i++) {
                const position = chunk.first + i
                const start = chunk.spans[2 * i]!
                const end = chunk.spans[2 * i + 1]!
                if (position < from || start === end) continue
                const h = peekEvent(chunk.buffer, start, end)
                add(h.stream, { revision: h.revision, position, time: chunk.time, bytes: chunk.buffer.subarray(start, end) })
              }
            }
          }
        } finally {
          await it.close()
        }
      })
      const rules = await Rules.load(door)
      // set below, once the writer exists: conditions see what the rules let read
      let visibility!: () => Visibility
      const writer = new LevelWriter(door, index, head, options.sync, async (condition, at) => await firstConflict(door, condition, at, visibility()), rules)
      const backend = new LevelBackend(door, index, writer, rules)
      visibility = () => backend.#visibility()
      return backend
    } catch (err) {
      await door.close()
      throw err
    }
  }

  get location (): string | undefined {
    return this.storage.location
  }

  /** Format 3 (format.ts): every annals that opens this database reads the column layout. */
  get columns (): boolean {
    return true
  }

  get head (): LogHead {
    return this.#writer.head
  }

  get figures (): WriterFigures {
    return this.#writer.figures
  }

  append (request: AppendRequest): Promise<AppendResult> {
    return this.#writer.append(request)
  }

  appendMany (request: AppendManyRequest): Promise<AppendResult[]> {
    return this.#writer.appendMany(request)
  }

  /** `raw`: events with their data and metadata as stored bytes, for a client to decode (net/serve.ts) */
  readLog (range: ReadRange, types?: ReadonlySet<string>, raw = false): EventChunks {
    return logChunks(this.storage, range, () => this.#writer.head.position, types === undefined ? undefined : h => types.has(h.type), this.#visibility(), raw)
  }

  /** The log's events as stored records, read as {@link readLog} reads them, for a client to decode (net/serve.ts, protocol 3). */
  readLogRecords (range: ReadRange, types?: ReadonlySet<string>): RecordChunks {
    return logRecords(this.storage, range, () => this.#writer.head.position, types === undefined ? undefined : h => types.has(h.type), this.#visibility())
  }

  readFiltered (range: ReadRange, filter: LogFilter): EventChunks {
    return filteredChunks(this.storage, this.#index, range, () => this.#writer.head.position, filter, this.#visibility())
  }

  /** `raw`: as for {@link readLog} */
  readStream (stream: string, range: ReadRange, raw = false): EventChunks {
    return streamChunks(this.storage, this.#index, stream, range, undefined, this.#visibility(), raw)
  }

  async streamRule (stream: string): Promise<StreamRule | undefined> {
    return this.#rules.stream(stream)
  }

  async streamStart (stream: string): Promise<number> {
    const rules = this.#rules
    if (!rules.any) return 0
    const own = rules.stream(stream)
    const last = await this.#writer.revision(stream)
    if (own?.tombstoned === true) return last + 1
    let start = own?.truncateBefore ?? 0
    const retention = rules.retention(stream)
    if (retention?.maxCount !== undefined) start = Math.max(start, last - retention.maxCount + 1)
    // an age, or an archive: the first revision committed at or after the bound
    const after = async (position: number): Promise<number> => position < 0 ? 0 : await this.#index.revisionAt(stream, position) + 1
    if (retention?.maxAge !== undefined) start = Math.max(start, await after(await this.positionAt(Date.now() - retention.maxAge - 1)))
    if (rules.archivedBefore > 0) start = Math.max(start, await after(rules.archivedBefore - 1))
    return Math.min(start, last + 1)
  }

  async scavenge (progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void): Promise<ScavengeReport> {
    return await scavenge(this.storage, this.#rules, this.#writer, progress, onRemoved)
  }

  async compact (): Promise<void> {
    await compactPending(this.storage)
  }

  async revision (stream: string): Promise<number> {
    return await this.#writer.revision(stream)
  }

  async revisionAt (stream: string, position: number): Promise<number> {
    return await this.#index.revisionAt(stream, position)
  }

  async positionAt (time: number): Promise<number> {
    return await positionAt(this.storage, this.#writer.head, time)
  }

  streams (options: StreamListOptions): AsyncIterable<StreamSummary> {
    return listStreams(this.storage, this.#index, options, this.#rules)
  }

  onCommit (listener: CommitListener): () => void {
    return this.#writer.onCommit(listener)
  }

  setHook (hook: AppendHook | undefined): void {
    this.#writer.setHook(hook)
  }

  async tryLock (name: string): Promise<Lock | undefined> {
    return this.coordination.tryLock(name)
  }

  async notify (topic: string, message: string): Promise<void> {
    this.coordination.notify(topic, message)
  }

  onNotice (topic: string, listener: (message: string) => void): () => void {
    return this.coordination.onNotice(topic, listener)
  }

  async importer (): Promise<LogImporter> {
    if (this.#writer.head.position >= 0) throw new TypeError('An import needs a database without events')
    const importer = await LevelImporter.start(this.storage, this.#index, this.#rules)
    const writer = this.#writer
    const index = this.#index
    return {
      get count () { return importer.count },
      add: async events => { await importer.add(events) },
      async finish () {
        const head = await importer.finish()
        writer.imported(head)
        return head
      },
      async abort () {
        await importer.abort()
        index.clear()
      }
    }
  }

  /** Writes the appends accepted and the streams' blocks still in memory, then closes the database (if annals opened it). */
  async flush (): Promise<void> {
    try {
      await this.#writer.flush()
    } catch (err) {
      // a database that cannot write rebuilds the blocks' tail at the next open: what was
      // acknowledged is in the log
      if (!this.storage.failed) throw err
    }
  }

  async close (): Promise<void> {
    try {
      await this.flush()
    } finally {
      await this.storage.close()
    }
  }
}

/**
 * Checks the format marker, or writes it in a new database. A database with keys but no marker
 * is not an annals database (`ANNALS_NOT_A_DATABASE`); one of an older format this code reads
 * is marked as of this one; one of another format is `ANNALS_UNSUPPORTED_FORMAT`.
 */
async function checkFormat (door: LevelDoor): Promise<void> {
  const stored = await door.get(FORMAT_KEY)
  if (stored === undefined) {
    if (await door.firstKey({}) !== undefined) {
      // a log whose last record holds: an annals database that lost its marker
      const head = await readHead(door).catch(() => undefined)
      if (head !== undefined && head.position >= 0) throw new AnnalsError('ANNALS_CORRUPT', 'The database has events but no format marker')
      throw new AnnalsError('ANNALS_NOT_A_DATABASE', 'The database holds data but no annals format marker: it is not an annals database')
    }
    await door.write([{ key: FORMAT_KEY, value: encode(FORMAT_VERSION) }], true)
    return
  }
  let format: unknown
  try {
    format = decode(stored)
  } catch (err) {
    throw new AnnalsError('ANNALS_CORRUPT', 'The format marker does not decode', { cause: err })
  }
  if (typeof format === 'number' && UPGRADES_FROM.includes(format)) {
    await door.write([{ key: FORMAT_KEY, value: encode(FORMAT_VERSION) }], true)
    return
  }
  if (format !== FORMAT_VERSION) {
    throw new AnnalsError('ANNALS_UNSUPPORTED_FORMAT', `The database has format ${String(format)}; this annals reads format ${FORMAT_VERSION}`)
  }
}

/** The last committed position and its time, from the last chunk. */
async function readHead (door: LevelDoor): Promise<LogHead> {
  const last = await door.firstEntry({ gte: logKey(0), lt: spaceEnd(Space.log), reverse: true })
  if (last === undefined) return { position: -1, time: 0 }
  const chunk = parseChunk(last[0], last[1])
  return { position: chunk.first + chunk.count - 1, time: chunk.time }
}
