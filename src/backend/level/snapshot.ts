// The key spaces as they were at one moment: reads through an explicit LevelDB snapshot, so
// that many reads (all of `annals verify`, a backup) see one state while appends go on.
import type { AbstractSnapshot } from 'abstract-level'
import { StorageBase, type ChunkIterator, type KeyRange, type WriteOp } from '../../storage/storage.js'
import { storageError, type LevelDoor } from './door.js'

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

interface LevelIterator {
  nextv (size: number): Promise<unknown[]>
  close (): Promise<void>
}

/**
 * A read-only view of a level database at the moment it was made. Close it when done (it
 * holds back LevelDB's compaction meanwhile).
 *
 * @example
 * ```ts
 * const at = new SnapshotStorage(door)
 * try { console.log(await at.firstKey({})) } finally { await at.close() }
 * ```
 */
export class SnapshotStorage extends StorageBase {
  readonly location: string | undefined
  readonly #door: LevelDoor
  readonly #snapshot: AbstractSnapshot
  readonly #iterators = new Set<LevelIterator>()

  constructor (door: LevelDoor) {
    super()
    this.#door = door
    this.location = door.location
    try {
      this.#snapshot = door.db.snapshot()
    } catch (err) {
      throw storageError(err)
    }
  }

  async get (key: Buffer): Promise<Buffer | undefined> {
    try {
      return await this.#door.db.get(key, { ...BUFFERS, snapshot: this.#snapshot })
    } catch (err) {
      throw storageError(err)
    }
  }

  async getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    try {
      return await this.#door.db.getMany(keys, { ...BUFFERS, snapshot: this.#snapshot })
    } catch (err) {
      throw storageError(err)
    }
  }

  async write (_ops: WriteOp[], _sync: boolean): Promise<void> {
    throw new TypeError('A snapshot is read-only')
  }

  entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]> {
    return this.#iterate(range, 'entries') as ChunkIterator<[Buffer, Buffer]>
  }

  keys (range: KeyRange): ChunkIterator<Buffer> {
    return this.#iterate(range, 'keys') as ChunkIterator<Buffer>
  }

  values (range: KeyRange): ChunkIterator<Buffer> {
    return this.#iterate(range, 'values') as ChunkIterator<Buffer>
  }

  #iterate (range: KeyRange, kind: 'entries' | 'keys' | 'values'): ChunkIterator<unknown> {
    const options = { ...range, ...BUFFERS, snapshot: this.#snapshot }
    let it: LevelIterator
    try {
      const db = this.#door.db
      it = (kind === 'keys' ? db.keys(options) : kind === 'values' ? db.values(options) : db.iterator(options)) as LevelIterator
    } catch (err) {
      throw storageError(err)
    }
    this.#iterators.add(it)
    return {
      nextv: async (size: number) => {
        try {
          return await it.nextv(size)
        } catch (err) {
          throw storageError(err)
        }
      },
      close: async () => {
        this.#iterators.delete(it)
        await it.close().catch(() => {})
      }
    }
  }

  /** Closes its iterators and lets the snapshot go. Idempotent. */
  async close (): Promise<void> {
    await Promise.allSettled([...this.#iterators].map(async it => { await it.close() }))
    this.#iterators.clear()
    await this.#snapshot.close().catch(() => {})
  }
}
