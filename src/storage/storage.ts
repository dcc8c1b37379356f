// The key spaces: an ordered map of byte keys, which every backend provides (see
// backend/backend.ts) and the layers above the log keep their records in (snapshots,
// projections and their views, checkpoints, privacy records). Keys start with a tag byte
// naming their space (see keys.ts).

/** Inclusive/exclusive bounds of a range scan, in key bytes. */
export interface KeyRange {
  gt?: Buffer
  gte?: Buffer
  lt?: Buffer
  lte?: Buffer
  reverse?: boolean
  limit?: number
}

/** One write of a batch: a put when `value` is given, else a delete. */
export interface WriteOp {
  key: Buffer
  value?: Buffer | undefined
}

/** A range scan that hands out entries in chunks. */
export interface ChunkIterator<T> {
  /** The next `size` entries at most; an empty array at the end. */
  nextv (size: number): Promise<T[]>
  close (): Promise<void>
}

/**
 * The key spaces of a database: reads, range scans and atomic writes of byte keys. A write
 * resolves once it is in the database (durable on disk first with `sync`), and rejects only if
 * none of it is, nor ever will be.
 *
 * @example
 * ```ts
 * await storage.write([{ key, value }], false)
 * const value = await storage.get(key)
 * ```
 */
export interface Storage {
  /** The folder of a database in one, else undefined. */
  readonly location: string | undefined
  get (key: Buffer): Promise<Buffer | undefined>
  /** Many values, in the order of `keys`. */
  getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>>
  /** Writes the operations atomically; with `sync`, durable on disk before it resolves. */
  write (ops: WriteOp[], sync: boolean): Promise<void>
  entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]>
  keys (range: KeyRange): ChunkIterator<Buffer>
  values (range: KeyRange): ChunkIterator<Buffer>
  /** Every key of a small range. */
  allKeys (range: KeyRange): Promise<Buffer[]>
  /** The first key of a range (the last with `reverse`), or undefined when it is empty. */
  firstKey (range: KeyRange): Promise<Buffer | undefined>
  /** The first entry of a range (the last with `reverse`), or undefined when it is empty. */
  firstEntry (range: KeyRange): Promise<[Buffer, Buffer] | undefined>
}

/**
 * The conveniences of {@link Storage} built on its scans, for implementations to extend.
 *
 * @example
 * ```ts
 * class MyStorage extends StorageBase { ... }  // implement get, getMany, write, entries, keys, values
 * ```
 */
export abstract class StorageBase implements Storage {
  abstract readonly location: string | undefined
  abstract get (key: Buffer): Promise<Buffer | undefined>
  abstract getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>>
  abstract write (ops: WriteOp[], sync: boolean): Promise<void>
  abstract entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]>
  abstract keys (range: KeyRange): ChunkIterator<Buffer>
  abstract values (range: KeyRange): ChunkIterator<Buffer>

  async allKeys (range: KeyRange): Promise<Buffer[]> {
    const it = this.keys(range)
    const out: Buffer[] = []
    try {
      for (let keys = await it.nextv(1024); keys.length > 0; keys = await it.nextv(1024)) out.push(...keys)
    } finally {
      await it.close()
    }
    return out
  }

  async firstKey (range: KeyRange): Promise<Buffer | undefined> {
    const it = this.keys({ ...range, limit: 1 })
    try {
      return (await it.nextv(1))[0]
    } finally {
      await it.close()
    }
  }

  async firstEntry (range: KeyRange): Promise<[Buffer, Buffer] | undefined> {
    const it = this.entries({ ...range, limit: 1 })
    try {
      return (await it.nextv(1))[0]
    } finally {
      await it.close()
    }
  }
}
