// The key spaces and the key store of a database in a folder, through the switching backend
// (switching.ts): whichever backend is current serves them, and a scan goes on past its last
// key after a switch. Also the storage of a process that is the owner, bound so that a call
// made as the owner goes away fails with ANNALS_OWNER_LOST rather than hanging.
import { AnnalsError } from '../errors.js'
import type { KeyStore, SubjectKey } from '../privacy/key-store.js'
import { StorageBase, type ChunkIterator, type KeyRange, type Storage, type WriteOp } from '../storage/storage.js'
import { Disconnected } from './connection.js'
import type { Attached, SwitchingBackend } from './switching.js'

/** The key spaces of whichever backend is current; scans go on past their last key after a switch. */
export class SwitchingStorage extends StorageBase {
  readonly #switching: SwitchingBackend

  constructor (switching: SwitchingBackend) {
    super()
    this.#switching = switching
  }

  get location (): string | undefined {
    return this.#switching.location
  }

  async get (key: Buffer): Promise<Buffer | undefined> {
    const current = this.#switching.current
    if (current.role === 'owner') return await current.storage.get(key)
    return await this.#switching.call(async b => await b.storage.get(key), 'always')
  }

  async getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    const current = this.#switching.current
    if (current.role === 'owner') return await current.storage.getMany(keys)
    return await this.#switching.call(async b => await b.storage.getMany(keys), 'always')
  }

  async write (ops: WriteOp[], sync: boolean): Promise<void> {
    const current = this.#switching.current
    if (current.role === 'owner') return await current.storage.write(ops, sync)
    await this.#switching.call(async b => { await b.storage.write(ops, sync) }, 'unsent')
  }

  entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]> {
    const current = this.#switching.current
    if (current.role === 'owner') return current.storage.entries(range)
    return new ResumedScan(this.#switching, range, (s, r) => s.entries(r), e => e[0])
  }

  keys (range: KeyRange): ChunkIterator<Buffer> {
    const current = this.#switching.current
    if (current.role === 'owner') return current.storage.keys(range)
    return new ResumedScan(this.#switching, range, (s, r) => s.keys(r), k => k)
  }

  values (range: KeyRange): ChunkIterator<Buffer> {
    const current = this.#switching.current
    if (current.role === 'owner') return current.storage.values(range)
    const entries = new ResumedScan(this.#switching, range, (s, r) => s.entries(r), e => e[0])
    return {
      nextv: async size => (await entries.nextv(size)).map(e => e[1]),
      close: async () => { await entries.close() }
    }
  }
}

/** A range scan that reopens past its last key on the next backend when the owner goes away. */
class ResumedScan<T> implements ChunkIterator<T> {
  readonly #switching: SwitchingBackend
  readonly #range: KeyRange
  readonly #open: (s: Storage, range: KeyRange) => ChunkIterator<T>
  readonly #key: (item: T) => Buffer
  #source: { backend: Attached, it: ChunkIterator<T> } | undefined
  #last: Buffer | undefined
  #left: number
  #closed = false

  constructor (switching: SwitchingBackend, range: KeyRange, open: (s: Storage, range: KeyRange) => ChunkIterator<T>, key: (item: T) => Buffer) {
    this.#switching = switching
    this.#range = range
    this.#open = open
    this.#key = key
    this.#left = range.limit ?? Infinity
  }

  async nextv (size: number): Promise<T[]> {
    for (;;) {
      if (this.#closed || this.#left <= 0) return []
      const source = this.#source ?? await this.#reopen()
      try {
        const items = await source.it.nextv(Math.min(size, this.#left))
        if (items.length > 0) {
          this.#last = this.#key(items[items.length - 1]!)
          this.#left -= items.length
        }
        return items
      } catch (err) {
        if (!(err instanceof Disconnected)) throw err
        this.#source = undefined
        this.#switching.lost(source.backend)
      }
    }
  }

  async #reopen (): Promise<{ backend: Attached, it: ChunkIterator<T> }> {
    const range: KeyRange = { ...this.#range }
    if (this.#left !== Infinity) range.limit = this.#left
    if (this.#last !== undefined) {
      if (range.reverse === true) {
        delete range.lte
        range.lt = this.#last
      } else {
        delete range.gte
        range.gt = this.#last
      }
    }
    const backend = await this.#switching.call(async b => b, 'always')
    this.#source = { backend, it: this.#open(backend.storage, range) }
    return this.#source
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#source?.it.close().catch(() => {})
  }
}

/**
 * The key store of a database's folder, wherever it is: the owner's own, reached directly or
 * through the socket. Its calls are all safe to repeat, and are, when the owner goes away.
 */
export class FolderKeyStore implements KeyStore {
  readonly #switching: SwitchingBackend
  readonly #rotated: (masterKey: Uint8Array | undefined) => void

  /** `rotated` hears of a new master key: what this process proves to the next owner. */
  constructor (switching: SwitchingBackend, rotated: (masterKey: Uint8Array | undefined) => void) {
    this.#switching = switching
    this.#rotated = rotated
  }

  async getOrCreate (subject: string): Promise<SubjectKey> {
    return await this.#switching.call(async b => await keysOf(b).getOrCreate(subject), 'always')
  }

  async get (subject: string): Promise<SubjectKey | undefined> {
    return await this.#switching.call(async b => await keysOf(b).get(subject), 'always')
  }

  async shred (subject: string): Promise<void> {
    await this.#switching.call(async b => { await keysOf(b).shred(subject) }, 'always')
  }

  async rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void> {
    await this.#switching.call(async b => { await b.rotateMasterKey(masterKey) }, 'unsent')
    this.#rotated(masterKey)
  }

  /** Closed with the backend (the owner closes its store before it lets the folder go). */
  async close (): Promise<void> {}
}

function keysOf (b: Attached): KeyStore {
  if (b.keys === undefined) throw new AnnalsError('ANNALS_NO_KEY_STORE', 'The process that holds the database has no key store')
  return b.keys
}

/**
 * Storage bound to one owner (a snapshot of its key spaces): when that owner goes away, reads
 * fail with ANNALS_OWNER_LOST rather than go on elsewhere, where the snapshot is not.
 */
export class OwnerBoundStorage extends StorageBase {
  readonly #inner: Storage & { close (): Promise<void> }

  constructor (inner: Storage & { close (): Promise<void> }) {
    super()
    this.#inner = inner
  }

  get location (): string | undefined {
    return this.#inner.location
  }

  async get (key: Buffer): Promise<Buffer | undefined> {
    return await bound(this.#inner.get(key))
  }

  async getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    return await bound(this.#inner.getMany(keys))
  }

  async write (ops: WriteOp[], sync: boolean): Promise<void> {
    await bound(this.#inner.write(ops, sync))
  }

  entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]> {
    return boundIterator(this.#inner.entries(range))
  }

  keys (range: KeyRange): ChunkIterator<Buffer> {
    return boundIterator(this.#inner.keys(range))
  }

  values (range: KeyRange): ChunkIterator<Buffer> {
    return boundIterator(this.#inner.values(range))
  }

  async close (): Promise<void> {
    await this.#inner.close().catch(() => {})
  }
}

async function bound<T> (promise: Promise<T>): Promise<T> {
  try {
    return await promise
  } catch (err) {
    if (!(err instanceof Disconnected)) throw err
    throw new AnnalsError('ANNALS_OWNER_LOST', 'The process that owns the database went away, and its snapshot with it', { cause: err })
  }
}

function boundIterator<T> (it: ChunkIterator<T>): ChunkIterator<T> {
  return { nextv: async size => await bound(it.nextv(size)), close: async () => { await it.close() } }
}
