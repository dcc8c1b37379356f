// The key spaces on PostgreSQL: one table of byte keys and values (kv), ordered as bytea
// compares, bytewise, like LevelDB's keys. Scans read a page at a time with a fresh query from
// the last key read (no cursor holds a connection between pages). View documents are also kept
// as jsonb where the document is plain data, for people to query with SQL (docs/postgres.md).
import { Space } from '../../storage/keys.js'
import { decode } from '../../storage/codec.js'
import { StorageBase, type ChunkIterator, type KeyRange, type WriteOp } from '../../storage/storage.js'
import { byteaArray, textArray } from './binary-arrays.js'
import type { Connection } from './connection.js'

/**
 * The writes of `ops` (each key's last write) as kv_write and write take them: binary arrays
 * (binary-arrays.ts) of the keys put, their values, their documents, and the keys deleted.
 */
export function kvArgs (ops: readonly WriteOp[]): [Buffer, Buffer, Buffer, Buffer] {
  const last = new Map<string, WriteOp>()
  for (const op of ops) last.set(op.key.toString('latin1'), op)
  const putKeys: Buffer[] = []
  const putValues: Buffer[] = []
  const putDocs: Array<string | null> = []
  const delKeys: Buffer[] = []
  for (const op of last.values()) {
    if (op.value === undefined) {
      delKeys.push(op.key)
    } else {
      putKeys.push(op.key)
      putValues.push(op.value)
      putDocs.push(viewDoc(op.key, op.value))
    }
  }
  return [byteaArray(putKeys), byteaArray(putValues), textArray(putDocs), byteaArray(delKeys)]
}

/** The document of a view key as JSON, when it is plain data; null otherwise (or for other keys). */
export function viewDoc (key: Buffer, value: Buffer): string | null {
  if (key[0] !== Space.views) return null
  let doc: unknown
  try {
    doc = decode(value)
  } catch {
    return null
  }
  return isPlain(doc, 0) ? JSON.stringify(doc) : null
}

/** Plain data: what JSON carries as it is (jsonb refuses NUL in strings; personal fields are sealed objects, not plain). */
function isPlain (value: unknown, depth: number): boolean {
  if (depth > 64) return false
  if (value === null || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (typeof value === 'string') return !value.includes('\u0000')
  if (typeof value !== 'object') return false
  if (Array.isArray(value)) return value.every(v => isPlain(v, depth + 1))
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  for (const [k, v] of Object.entries(value)) if (k.includes('\u0000') || !isPlain(v, depth + 1)) return false
  return true
}

type Row = { k: Buffer, v: Buffer }

export class PostgresStorage extends StorageBase {
  readonly location = undefined
  readonly #conn: Connection

  constructor (conn: Connection) {
    super()
    this.#conn = conn
  }

  async get (key: Buffer): Promise<Buffer | undefined> {
    const rows = await this.#conn.query<Row>(`select v from ${this.#conn.s}.kv where k = $1`, [key])
    return rows[0]?.v
  }

  async getMany (keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    if (keys.length === 0) return []
    const rows = await this.#conn.query<Row>(`select k, v from ${this.#conn.s}.kv where k = any($1::bytea[])`, [keys])
    const found = new Map(rows.map(r => [r.k.toString('latin1'), r.v]))
    return keys.map(k => found.get(k.toString('latin1')))
  }

  /** Writes atomically; without `sync`, the commit does not wait for the WAL flush. */
  async write (ops: WriteOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) return
    await this.#conn.query(`select ${this.#conn.s}.kv_write($1::bytea[], $2::bytea[], $3::text[], $4::bytea[], $5::boolean)`,
      [...kvArgs(ops), sync])
  }

  entries (range: KeyRange): ChunkIterator<[Buffer, Buffer]> {
    return new KvScan(this.#conn, range, rows => rows.map(r => [r.k, r.v]), true)
  }

  keys (range: KeyRange): ChunkIterator<Buffer> {
    return new KvScan(this.#conn, range, rows => rows.map(r => r.k), false)
  }

  values (range: KeyRange): ChunkIterator<Buffer> {
    return new KvScan(this.#conn, range, rows => rows.map(r => r.v), true)
  }
}

/** A range scan of the key spaces, a page of rows per call, each from where the last ended. */
class KvScan<T> implements ChunkIterator<T> {
  readonly #conn: Connection
  readonly #map: (rows: Row[]) => T[]
  readonly #values: boolean
  readonly #reverse: boolean
  #low: { key: Buffer, inclusive: boolean } | undefined
  #high: { key: Buffer, inclusive: boolean } | undefined
  #left: number
  #done = false

  constructor (conn: Connection, range: KeyRange, map: (rows: Row[]) => T[], values: boolean) {
    this.#conn = conn
    this.#map = map
    this.#values = values
    this.#reverse = range.reverse === true
    this.#low = range.gt !== undefined ? { key: range.gt, inclusive: false } : range.gte !== undefined ? { key: range.gte, inclusive: true } : undefined
    this.#high = range.lt !== undefined ? { key: range.lt, inclusive: false } : range.lte !== undefined ? { key: range.lte, inclusive: true } : undefined
    this.#left = range.limit === undefined || range.limit < 0 ? Infinity : range.limit
  }

  async nextv (size: number): Promise<T[]> {
    const n = Math.min(size, this.#left)
    if (this.#done || n <= 0) return []
    const where: string[] = []
    const values: unknown[] = []
    if (this.#low !== undefined) {
      values.push(this.#low.key)
      where.push(`k ${this.#low.inclusive ? '>=' : '>'} $${values.length}`)
    }
    if (this.#high !== undefined) {
      values.push(this.#high.key)
      where.push(`k ${this.#high.inclusive ? '<=' : '<'} $${values.length}`)
    }
    values.push(n)
    const text = `select k${this.#values ? ', v' : ''} from ${this.#conn.s}.kv${where.length === 0 ? '' : ` where ${where.join(' and ')}`} ` +
      `order by k${this.#reverse ? ' desc' : ''} limit $${values.length}`
    const rows = await this.#conn.query<Row>(text, values)
    this.#left -= rows.length
    if (rows.length < n) this.#done = true
    const last = rows[rows.length - 1]
    if (last !== undefined) {
      if (this.#reverse) this.#high = { key: last.k, inclusive: false }
      else this.#low = { key: last.k, inclusive: false }
    }
    return this.#map(rows)
  }

  async close (): Promise<void> {
    this.#done = true
  }
}
