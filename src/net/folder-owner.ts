// The owner of a database folder: its level backend (the one writer), its key store, and the
// server its clients connect to. It closes them in that order of need: the server first (its
// clients' requests answered, the owner file removed), then the key store, then LevelDB, whose
// lock is what the next owner waits for: by then nothing of the folder is held.
import { join } from 'node:path'
import type {
  AppendHook, AppendManyRequest, AppendRequest, CommitListener, EventChunks, Lock, LogFilter, LogHead, LogImporter, ReadRange, ScavengeReport,
  StreamListOptions, StreamRule, StreamSummary
} from '../backend/backend.js'
import type { WriterFigures } from '../diagnostics/figures.js'
import { copyInto, snapshotIterator } from '../backend/level/backup.js'
import type { LevelBackend } from '../backend/level/level-backend.js'
import { SnapshotStorage } from '../backend/level/snapshot.js'
import type { AppendResult } from '../log/types.js'
import type { KeyStore } from '../privacy/key-store.js'
import type { LevelKeyStore } from '../privacy/level-key-store.js'
import type { Storage } from '../storage/storage.js'
import { removeOwner, writeOwner } from './paths.js'
import { OwnerServer, type Served } from './server.js'
import type { Attached } from './switching.js'

export class FolderOwner implements Attached {
  readonly role = 'owner'
  readonly keys: KeyStore | undefined
  readonly #dir: string
  readonly #level: LevelBackend
  readonly #ownStore: LevelKeyStore | undefined
  #masterKey: Uint8Array | undefined
  #server: OwnerServer | undefined

  private constructor (dir: string, level: LevelBackend, keys: KeyStore | undefined, ownStore: LevelKeyStore | undefined, masterKey: Uint8Array | undefined) {
    this.#dir = dir
    this.#level = level
    this.keys = keys
    this.#ownStore = ownStore
    this.#masterKey = masterKey
  }

  /**
   * The owner of `dir`, whose LevelDB this process has just opened: serving clients, or, when
   * `exclusive`, recording that it admits none.
   */
  static async start (dir: string, level: LevelBackend, keys: KeyStore | undefined, ownStore: LevelKeyStore | undefined, masterKey: Uint8Array | undefined, exclusive: boolean): Promise<FolderOwner> {
    const owner = new FolderOwner(dir, level, keys, ownStore, masterKey)
    if (exclusive) writeOwner(dir, { pid: process.pid })
    else owner.#server = await OwnerServer.start(dir, owner.#served())
    return owner
  }

  #served (): Served {
    return {
      backend: this.#level,
      keyStore: () => this.keys,
      masterKey: () => this.#masterKey,
      rotateMasterKey: async masterKey => { await this.rotateMasterKey(masterKey) },
      backup: async dest => { await this.backup(dest) }
    }
  }

  /** How many client processes are connected. */
  get clients (): number {
    return this.#server?.clients ?? 0
  }

  get storage (): Storage {
    return this.#level.storage
  }

  get location (): string | undefined {
    return this.#level.location
  }

  get columns (): boolean {
    return this.#level.columns
  }

  get head (): LogHead {
    return this.#level.head
  }

  get figures (): WriterFigures {
    return this.#level.figures
  }

  append (request: AppendRequest): Promise<AppendResult> {
    return this.#level.append(request)
  }

  appendMany (request: AppendManyRequest): Promise<AppendResult[]> {
    return this.#level.appendMany(request)
  }

  readLog (range: ReadRange, types?: ReadonlySet<string>): EventChunks {
    return this.#level.readLog(range, types)
  }

  readFiltered (range: ReadRange, filter: LogFilter): EventChunks {
    return this.#level.readFiltered(range, filter)
  }

  readStream (stream: string, range: ReadRange): EventChunks {
    return this.#level.readStream(stream, range)
  }

  async revision (stream: string): Promise<number> {
    return await this.#level.revision(stream)
  }

  async revisionAt (stream: string, position: number): Promise<number> {
    return await this.#level.revisionAt(stream, position)
  }

  async positionAt (time: number): Promise<number> {
    return await this.#level.positionAt(time)
  }

  streams (options: StreamListOptions): AsyncIterable<StreamSummary> {
    return this.#level.streams(options)
  }

  onCommit (listener: CommitListener): () => void {
    return this.#level.onCommit(listener)
  }

  setHook (hook: AppendHook | undefined): void {
    this.#level.setHook(hook)
  }

  async tryLock (name: string): Promise<Lock | undefined> {
    return await this.#level.tryLock(name)
  }

  /** To this process's listeners and every client's; resolves once each client has it. */
  async notify (topic: string, message: string): Promise<void> {
    if (this.#server === undefined) await this.#level.notify(topic, message)
    else await this.#server.notify(topic, message)
  }

  onNotice (topic: string, listener: (message: string) => void): () => void {
    return this.#level.onNotice(topic, listener)
  }

  async streamRule (stream: string): Promise<StreamRule | undefined> {
    return await this.#level.streamRule(stream)
  }

  async streamStart (stream: string): Promise<number> {
    return await this.#level.streamStart(stream)
  }

  async scavenge (progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void): Promise<ScavengeReport> {
    return await this.#level.scavenge(progress, onRemoved)
  }

  async compact (): Promise<void> {
    await this.#level.compact()
  }

  async importer (): Promise<LogImporter> {
    return await this.#level.importer()
  }

  async flush (): Promise<void> {
    await this.#level.flush()
  }

  async close (): Promise<void> {
    try {
      await this.#server?.close()
      await this.#ownStore?.close()
    } finally {
      try {
        await this.#level.close()
      } finally {
        if (this.#server === undefined) removeOwner(this.#dir)
      }
    }
  }

  /**
   * A consistent copy of the database at `dest` (a new or empty folder): the log and every key
   * space from one LevelDB snapshot, then the key store from one of its own, taken after (every
   * key an event of the copy was sealed with was stored before that event, so it is there,
   * unless shredded since).
   */
  async backup (dest: string): Promise<void> {
    const events = snapshotIterator(this.#level.storage.db)
    let keys: Awaited<ReturnType<LevelKeyStore['snapshot']>>
    try {
      keys = await this.#ownStore?.snapshot()
    } catch (err) {
      await events.close()
      throw err
    }
    try {
      await copyInto(events, dest)
    } catch (err) {
      await keys?.close()
      throw err
    }
    if (keys !== undefined) await copyInto(keys, join(dest, 'keys'), { compression: false })
  }

  async snapshot (): Promise<SnapshotStorage> {
    return new SnapshotStorage(this.#level.storage)
  }

  async rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void> {
    if (this.#ownStore === undefined) throw new TypeError('rotateMasterKey is for the key store annals keeps in a database folder')
    await this.#ownStore.rotateMasterKey(masterKey)
    this.#masterKey = masterKey
  }
}
