// The owner's key spaces and key store as a client sees them: every call a request over the
// socket (serve.ts answers), iterators pulled a chunk at a time. Used by client-backend.ts.
import type { KeyStore, SubjectKey } from '../privacy/key-store.js'
import { StorageBase, type ChunkIterator, type KeyRange, type WriteOp } from '../storage/storage.js'
import type { Connection } from './connection.js'
import { buffer } from './wire.js'

/** The owner's key spaces (or a snapshot of them, `snapshot` > 0), over the socket. */
export class RemoteStorage extends StorageBase {
  readonly location: string | undefined
  readonly #connection: Connection
  readonly #snapshot: number

  constructor (connection: Connection, location: string | undefined, snapshot: number) {
    super()
    this.#connection = connection
    this.location = location
    this.#snapshot = snapshot
  }

  async get (key: Buffer): Promise<Buffer | undefined> {
    const value = await this.#connection.request('get', this.#snapshot, key) as Uint8Array | null
    return value === null || value === undefined ? undefined : buffer(value)
  }

  async getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    if (keys.length === 0) return []
    const values = await this.#connection.request('getMany', this.#snapshot, keys) as Array<Uint8Array | null | undefined>
    return values.map(v => v === null || v === undefined ? undefined : buffer(v))
  }

  async write (ops: WriteOp[], sync: boolean): Promise<void> {
    if (this.#snapshot !== 0) throw new TypeError('A snapshot is read-only')
    if (ops.length === 0) return
    await this.#connection.request('write', ops.map(op => [op.key, op.value ?? null]), sync)
  }

  entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]> {
    return new RemoteIterator<[Buffer, Buffer]>(this.#connection, this.#snapshot, range, 'entries', e => {
      const [k, v] = e as [Uint8Array, Uint8Array]
      return [buffer(k), buffer(v)]
    })
  }

  keys (range: KeyRange): ChunkIterator<Buffer> {
    return new RemoteIterator<Buffer>(this.#connection, this.#snapshot, range, 'keys', k => buffer(k as Uint8Array))
  }

  values (range: KeyRange): ChunkIterator<Buffer> {
    return new RemoteIterator<Buffer>(this.#connection, this.#snapshot, range, 'entries', e => buffer((e as [Uint8Array, Uint8Array])[1]))
  }

  /** Lets the owner drop the snapshot. */
  async close (): Promise<void> {
    if (this.#snapshot !== 0) await this.#connection.request('dropSnapshot', this.#snapshot).catch(() => {})
  }
}

class RemoteIterator<T> implements ChunkIterator<T> {
  readonly #connection: Connection
  readonly #snapshot: number
  readonly #range: KeyRange
  readonly #kind: 'entries' | 'keys'
  readonly #map: (item: unknown) => T
  #id: Promise<number> | undefined
  #closed = false

  constructor (connection: Connection, snapshot: number, range: KeyRange, kind: 'entries' | 'keys', map: (item: unknown) => T) {
    this.#connection = connection
    this.#snapshot = snapshot
    this.#range = range
    this.#kind = kind
    this.#map = map
  }

  async nextv (size: number): Promise<T[]> {
    if (this.#closed) return []
    this.#id ??= this.#connection.request('iterate', this.#snapshot, this.#range, this.#kind) as Promise<number>
    const items = await this.#connection.request('nextv', await this.#id, size) as unknown[]
    return items.map(this.#map)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#id !== undefined) {
      const id = await this.#id.catch(() => 0)
      if (id !== 0) await this.#connection.request('close', id).catch(() => {})
    }
  }
}

/** The owner's key store, over the socket: keys cross only to admitted clients. */
export class RemoteKeyStore implements KeyStore {
  readonly #connection: Connection

  constructor (connection: Connection) {
    this.#connection = connection
  }

  async getOrCreate (subject: string): Promise<SubjectKey> {
    return keyIn(await this.#connection.request('keyGetOrCreate', subject))!
  }

  async get (subject: string): Promise<SubjectKey | undefined> {
    return keyIn(await this.#connection.request('keyGet', subject))
  }

  async shred (subject: string): Promise<void> {
    await this.#connection.request('keyShred', subject)
  }
}

function keyIn (value: unknown): SubjectKey | undefined {
  if (value === null || value === undefined) return undefined
  const [id, key] = value as [Uint8Array, Uint8Array]
  return { id: buffer(id), key: buffer(key) }
}
