// The door to the abstract-level database: every read and write of the level backend goes
// through it, so that error mapping, the closing of iterators and recovery from failed writes
// live in one place.
//
// Fail-stop. LevelDB does not stop after a failed write of its write-ahead log: later writes
// go on succeeding, behind a torn record, and the next open drops them all. So the door writes
// one batch at a time, and after a write fails it acknowledges nothing more until it has
// reopened the database (which replays the log up to the torn record and starts a new one).
// Then it reads whether the failed batch is in the database after all (a failed fsync may
// leave it there): if it is, the write succeeded; if not, it failed. If the database cannot be
// reopened (the disk is still full), the door is failed: every call tries to recover again,
// and fails with ANNALS_STORAGE until that works; the failed batch is then in doubt, and is
// rolled back if it turns up, from the values its keys held before.
//
// Iterators survive a recovery: they reopen past the last key they handed out.
import type { AbstractLevel } from 'abstract-level'
import { ClassicLevel } from 'classic-level'
import { AnnalsError } from '../../errors.js'
import { StorageBase, type ChunkIterator, type KeyRange, type WriteOp } from '../../storage/storage.js'
import { checkFolder, openError } from './folder.js'

/**
 * Any abstract-level database: classic-level, memory-level, a sublevel of either, or your own.
 * annals reads and writes Buffer keys and values on it, with per-operation encoding options, so
 * its default encodings do not matter.
 *
 * @example
 * ```ts
 * const level: AnyLevel = new MemoryLevel()
 * const db = await open({ level })
 * ```
 */
export type AnyLevel = AbstractLevel<any, any, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const
/** How much one read of an iterator may bring at most (classic-level's highWaterMarkBytes). */
const ITERATOR_BYTES = 1024 * 1024
/** Up to this many keys, a multi-get reads synchronously; past it, one trip to the thread pool is cheaper. */
const SYNC_GETS = 16

type State = 'open' | 'recovering' | 'failed' | 'closed'

interface LevelIterator<T> {
  nextv (size: number): Promise<T[]>
  close (): Promise<void>
}

/** A batch whose outcome a failed recovery left unknown, and the values its keys held before. */
interface InDoubt {
  ops: WriteOp[]
  before: Array<Buffer | undefined> | undefined
}

// Databases (a root and a prefix) in use by an open annals instance of this process: a second
// open of the same one would run two writers on one log.
const inUse = new WeakMap<object, Set<string>>()

/** Maps an abstract-level error to an {@link AnnalsError} with a stable code. */
export function storageError (err: unknown): AnnalsError {
  if (err instanceof AnnalsError) return err
  const code = (err as { code?: string } | undefined)?.code
  if (code === 'LEVEL_DATABASE_NOT_OPEN' || code === 'LEVEL_ITERATOR_NOT_OPEN' || code === 'LEVEL_DATABASE_NOT_CLOSED') {
    return new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed', { cause: err })
  }
  if (code === 'LEVEL_CORRUPTION') {
    return new AnnalsError('ANNALS_CORRUPT', `LevelDB reports damage: ${(err as Error).message}`, { cause: err })
  }
  return new AnnalsError('ANNALS_STORAGE', `The storage failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

export class LevelDoor extends StorageBase {
  readonly db: AnyLevel
  readonly location: string | undefined
  /** the database a recovery closes and opens again: the root of a sublevel */
  readonly #root: AnyLevel
  readonly #owned: boolean
  readonly #options: typeof BUFFERS | undefined
  readonly #getSync: boolean
  readonly #inUseKey: [object, string]
  readonly #iterators = new Set<DoorIterator<unknown>>()
  #state: State = 'open'
  #recovering: Promise<void> | undefined
  #generation = 0
  #failure: unknown
  #inDoubt: InDoubt | undefined
  #chain: Promise<unknown> = Promise.resolve()

  private constructor (db: AnyLevel, owned: boolean, location: string | undefined, inUseKey: [object, string]) {
    super()
    this.db = db
    this.#owned = owned
    this.location = location
    this.#root = (db as { db?: AnyLevel }).db ?? db
    this.#inUseKey = inUseKey
    // per-operation encoding options cost nothing on a chained batch; skip them when the
    // database already speaks buffers
    const buffers = db.keyEncoding().commonName === 'buffer' && db.valueEncoding().commonName === 'buffer'
    this.#options = buffers ? undefined : BUFFERS
    this.#getSync = (db.supports as { getSync?: boolean }).getSync === true
  }

  /** Opens classic-level at `location`, after checking that it is a database folder or a new one. */
  static async openPath (location: string): Promise<LevelDoor> {
    await checkFolder(location)
    const db = new ClassicLevel<Buffer, Buffer>(location, BUFFERS)
    try {
      await db.open()
    } catch (err) {
      throw openError(err, location)
    }
    const key = claim(db as unknown as AnyLevel)
    if (key === undefined) {
      await db.close()
      throw new AnnalsError('ANNALS_LOCKED', 'This database is already open in annals; close that instance first')
    }
    return new LevelDoor(db as unknown as AnyLevel, true, location, key)
  }

  /** Uses a database the caller opened (and will close). */
  static async openLevel (db: AnyLevel): Promise<LevelDoor> {
    const key = claim(db)
    if (key === undefined) {
      throw new AnnalsError('ANNALS_LOCKED', 'This database is already open in annals; close that instance first')
    }
    try {
      if (db.status !== 'open') await db.open()
    } catch (err) {
      release(key)
      // a sublevel's error does not say why its root failed to open; the root's own does
      const root = (db as { db?: AnyLevel }).db
      if (root !== undefined && root !== db && root.status !== 'open') {
        throw openError(await root.open().then(() => err, (rootErr: unknown) => rootErr), undefined)
      }
      throw openError(err, undefined)
    }
    return new LevelDoor(db, false, undefined, key)
  }

  /** Bumped by every recovery: iterators opened before it reopen. */
  get generation (): number {
    return this.#generation
  }

  /**
   * One value. Read synchronously where the database can (classic-level, memory-level): a
   * point lookup answered from LevelDB's caches and bloom filters takes a few µs, where a trip
   * through libuv's thread pool costs 50 to 100 µs on our machines.
   */
  async get (key: Buffer): Promise<Buffer | undefined> {
    if (this.#state !== 'open') await this.usable()
    try {
      const options = this.#options
      if (this.#getSync) return options === undefined ? this.db.getSync(key) : this.db.getSync(key, options)
      return await (options === undefined ? this.db.get(key) : this.db.get(key, options))
    } catch (err) {
      throw this.#error(err)
    }
  }

  /** Many values, in the order of `keys`; a few are read synchronously, as {@link get} does. */
  async getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    if (keys.length === 0) return []
    if (this.#state !== 'open') await this.usable()
    try {
      return await this.#getMany(keys)
    } catch (err) {
      throw this.#error(err)
    }
  }

  async #getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    const options = this.#options
    if (this.#getSync && keys.length <= SYNC_GETS) {
      return keys.map(key => options === undefined ? this.db.getSync(key) : this.db.getSync(key, options))
    }
    return await (options === undefined ? this.db.getMany(keys) : this.db.getMany(keys, options))
  }

  /**
   * Writes the operations atomically, one batch at a time; with `sync`, durable on disk before
   * it resolves. Resolves once the batch is in the database; rejects with ANNALS_STORAGE when
   * it is not (and never will be), having recovered if it could.
   */
  async write (ops: WriteOp[], sync: boolean): Promise<void> {
    const done = this.#chain.then(async () => { await this.#write(ops, sync) })
    this.#chain = done.catch(() => {})
    await done
  }

  async #write (ops: WriteOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) return
    if (this.#state !== 'open') await this.usable()
    try {
      await this.#apply(ops, sync)
    } catch (err) {
      await this.#failed(ops, err)
    }
  }

  /**
   * One put alone (an awaited single append) as a plain put, anything more as one chained
   * batch. Measured on classic-level: an awaited put takes about 34 µs where a chained batch of
   * one takes 40, and a chained batch applies write options once, where an array batch copies
   * them into every operation (about 2x slower).
   */
  async #apply (ops: WriteOp[], sync: boolean): Promise<void> {
    const options = this.#options
    const first = ops[0]!
    if (ops.length === 1 && first.value !== undefined) {
      const putOptions = sync ? { ...options, sync: true } : options
      await (putOptions === undefined ? this.db.put(first.key, first.value) : this.db.put(first.key, first.value, putOptions))
      return
    }
    const batch = this.db.batch()
    for (const op of ops) {
      if (op.value === undefined) {
        if (options === undefined) batch.del(op.key)
        else batch.del(op.key, options)
      } else if (options === undefined) {
        batch.put(op.key, op.value)
      } else {
        batch.put(op.key, op.value, options)
      }
    }
    await (sync ? batch.write({ sync: true }) : batch.write())
  }

  /** A write failed: recover, then say whether the batch is in the database after all. */
  async #failed (ops: WriteOp[], err: unknown): Promise<void> {
    const failure = this.#error(err)
    if (this.#state === 'closed' || failure.code === 'ANNALS_NOT_OPEN') throw failure
    // the batch is not in LevelDB's memory: what its keys hold now is what they held before
    const before = await this.#getMany(ops.map(op => op.key)).catch(() => undefined)
    try {
      await this.#reopen()
    } catch (reopenErr) {
      this.#fail(reopenErr)
      this.#inDoubt = { ops, before }
      throw failure
    }
    if (!await this.#landed(ops)) throw failure
  }

  /** Whether every operation of `ops` is what the database holds now (a batch lands whole or not at all). */
  async #landed (ops: WriteOp[]): Promise<boolean> {
    const now = await this.#getMany(ops.map(op => op.key))
    return ops.every((op, i) => op.value === undefined ? now[i] === undefined : now[i] !== undefined && now[i]!.equals(op.value))
  }

  /**
   * Resolves when the database can be used: at once when it is open; after the recovery under
   * way; or after a new recovery, when the last one failed (ANNALS_STORAGE if this one fails too).
   */
  async usable (): Promise<void> {
    for (;;) {
      switch (this.#state) {
        case 'open': return
        case 'closed': throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
        case 'recovering':
          await this.#recovering!.catch(() => {})
          break
        case 'failed':
          // one attempt at a time; callers during it wait for its outcome
          await (this.#recovering ?? this.#recover())
      }
    }
  }

  /** Tries again to reopen a failed database, and settles the batch in doubt, before anything else. */
  async #recover (): Promise<void> {
    try {
      await this.#reopen(async () => {
        const doubt = this.#inDoubt
        if (doubt === undefined || !await this.#landed(doubt.ops)) return
        if (doubt.before === undefined) {
          process.emitWarning('annals: a write reported as failed was found in the database after recovery, and could not be rolled back', { code: 'ANNALS_IN_DOUBT' })
        } else {
          await this.#apply(doubt.ops.map((op, i) => ({ key: op.key, value: doubt.before![i] })), true)
        }
      })
      this.#inDoubt = undefined
    } catch (err) {
      this.#fail(err)
      throw this.#failedError()
    }
  }

  #fail (err: unknown): void {
    this.#state = 'failed'
    this.#failure = err
  }

  /** Whether a write failed and the database could not be reopened since. */
  get failed (): boolean {
    return this.#state === 'failed'
  }

  #failedError (): AnnalsError {
    return new AnnalsError('ANNALS_STORAGE', `The storage failed and the database could not be reopened yet: ${(this.#failure as Error)?.message ?? String(this.#failure)}`, { cause: this.#failure })
  }

  /**
   * Closes and opens the database again, then runs `then` before anyone else uses it;
   * iterators reopen on their next read.
   */
  async #reopen (then?: () => Promise<void>): Promise<void> {
    this.#state = 'recovering'
    this.#generation++
    const reopening = (async () => {
      await this.#root.close().catch(() => {})
      await this.#root.open()
      if (this.db !== this.#root) await this.db.open()
      await then?.()
    })()
    this.#recovering = reopening
    try {
      await reopening
      this.#state = 'open'
    } finally {
      this.#recovering = undefined
    }
  }

  /** Entries `[key, value]` of a range, in chunks. */
  entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]> {
    return this.#iterate(range, 'entries')
  }

  /** Keys of a range, in chunks. */
  keys (range: KeyRange): ChunkIterator<Buffer> {
    return this.#iterate(range, 'keys')
  }

  /** Values of a range, in chunks. */
  values (range: KeyRange): ChunkIterator<Buffer> {
    return this.#iterate(range, 'values')
  }

  #iterate<T> (range: KeyRange, kind: Kind): ChunkIterator<T> {
    if (this.#state === 'closed') throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
    const it = new DoorIterator<T>(this, range, kind)
    this.#iterators.add(it as DoorIterator<unknown>)
    return it
  }

  /** @internal for iterators */
  openIterator (range: KeyRange, kind: Kind): LevelIterator<unknown> {
    // classic-level stops a nextv at 16 KiB by default: a few chunks or blocks of the log take
    // more, and each stop is one more trip to LevelDB's thread
    const options = { ...range, ...BUFFERS, highWaterMarkBytes: ITERATOR_BYTES }
    try {
      return (kind === 'keys' ? this.db.keys(options) : this.db.iterator(options)) as LevelIterator<unknown>
    } catch (err) {
      throw this.#error(err)
    }
  }

  /** @internal for iterators */
  forget (it: DoorIterator<unknown>): void {
    this.#iterators.delete(it)
  }

  /** @internal The code of a failure: a closed database is ANNALS_NOT_OPEN whatever LevelDB says. */
  error (err: unknown): AnnalsError {
    return this.#error(err)
  }

  #error (err: unknown): AnnalsError {
    if (this.#state === 'closed') return new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed', { cause: err })
    return storageError(err)
  }

  /** Closes open iterators, then the database if annals opened it. Idempotent; resolves even after failures. */
  async close (): Promise<void> {
    if (this.#state === 'closed') return
    await this.#recovering?.catch(() => {})
    await this.#chain
    this.#state = 'closed'
    await Promise.allSettled([...this.#iterators].map(async it => await it.close()))
    this.#iterators.clear()
    release(this.#inUseKey)
    // a database that failed may refuse to close cleanly; what was acknowledged is on disk
    if (this.#owned) await this.db.close().catch(() => {})
  }
}

type Kind = 'entries' | 'keys' | 'values'

/** A range scan that reopens past its last key when the database was recovered under it. */
class DoorIterator<T> implements ChunkIterator<T> {
  readonly #door: LevelDoor
  readonly #range: KeyRange
  readonly #kind: Kind
  #it: LevelIterator<unknown> | undefined
  #generation = -1
  #last: Buffer | undefined
  #left: number
  #closed = false

  constructor (door: LevelDoor, range: KeyRange, kind: Kind) {
    this.#door = door
    this.#range = range
    this.#kind = kind
    this.#left = range.limit ?? Infinity
  }

  async nextv (size: number): Promise<T[]> {
    if (this.#closed || this.#left <= 0) return []
    for (let attempt = 0; ; attempt++) {
      await this.#door.usable()
      if (this.#it === undefined || this.#generation !== this.#door.generation) this.#open()
      let got: unknown[]
      try {
        got = await this.#it!.nextv(Math.min(size, this.#left))
      } catch (err) {
        // the database was recovered under this iterator: open it again past its last key
        if (attempt === 0 && this.#generation !== this.#door.generation) continue
        throw this.#door.error(err)
      }
      this.#left -= got.length
      if (got.length === 0) return []
      const last = got[got.length - 1]
      this.#last = (this.#kind === 'keys' ? last : (last as [Buffer, Buffer])[0]) as Buffer
      if (this.#kind === 'values') return got.map(e => (e as [Buffer, Buffer])[1]) as T[]
      return got as T[]
    }
  }

  #open (): void {
    void this.#it?.close().catch(() => {})
    const range: KeyRange = { ...this.#range, limit: this.#left === Infinity ? undefined : this.#left }
    if (range.limit === undefined) delete range.limit
    if (this.#last !== undefined) {
      if (this.#range.reverse === true) {
        delete range.lte
        range.lt = this.#last
      } else {
        delete range.gte
        range.gt = this.#last
      }
    }
    this.#generation = this.#door.generation
    this.#it = this.#door.openIterator(range, this.#kind)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#door.forget(this as DoorIterator<unknown>)
    await this.#it?.close().catch(() => {})
  }
}

function claim (db: AnyLevel): [object, string] | undefined {
  const root = (db as { db?: AnyLevel }).db ?? db
  const prefix = (db as { prefix?: string }).prefix ?? ''
  let prefixes = inUse.get(root)
  if (prefixes === undefined) inUse.set(root, prefixes = new Set())
  if (prefixes.has(prefix)) return undefined
  prefixes.add(prefix)
  return [root, prefix]
}

function release ([root, prefix]: [object, string]): void {
  inUse.get(root)?.delete(prefix)
}
