// The PostgreSQL backend: the log and the key spaces in tables of one schema, written by any
// number of processes on any number of machines. Composes the schema (schema.ts), the writer
// (writer.ts), the readers (readers.ts), the key spaces (storage.ts), the session that hears
// commits and notices and holds locks (session.ts), and the importer (import.ts). How it all
// works, and what a user must know, is docs/postgres.md.
import type pg from 'pg'
import type {
  AppendHook, AppendManyRequest, AppendRequest, Backend, CommitListener, EventChunks, Lock, LogFilter, LogHead, LogImporter, ReadRange,
  StreamListOptions, StreamSummary
} from '../backend.js'
import { AnnalsError } from '../../errors.js'
import type { AppendResult } from '../../log/types.js'
import { Connection, checkSchema } from './connection.js'
import { PostgresImporter } from './import.js'
import { Readers } from './readers.js'
import { clockOffset, ensureSchema, readHead } from './schema.js'
import { Session } from './session.js'
import { PostgresStorage } from './storage.js'
import { PostgresWriter } from './writer.js'

/** The schema annals works in when none is given. */
export const DEFAULT_SCHEMA = 'annals'

/** Streams listed per query. */
const STREAMS_PAGE = 256

/**
 * The databases open in this process, by server, database and schema: a second open of one in
 * the same process is ANNALS_LOCKED, as on LevelDB (other processes may open it at will).
 */
const openHere = new Set<string>()

export class PostgresBackend implements Backend {
  readonly storage: PostgresStorage
  readonly location = undefined
  readonly connection: Connection
  readonly #writer: PostgresWriter
  readonly #readers: Readers
  readonly #session: Session
  readonly #where: string
  #closing: Promise<void> | undefined

  private constructor (conn: Connection, writer: PostgresWriter, session: Session, where: string) {
    this.connection = conn
    this.#where = where
    this.storage = new PostgresStorage(conn)
    this.#writer = writer
    this.#session = session
    this.#readers = new Readers(conn, () => writer.head.position, head => { writer.advance(head) })
  }

  /**
   * Opens the database at `postgres` (a URL, whose pool is made here and ended by `close`, or
   * a pg pool of the caller's, left open) in `schema`, made if need be.
   */
  static async open (postgres: string | pg.Pool, schema = DEFAULT_SCHEMA): Promise<PostgresBackend> {
    const conn = Connection.make(postgres, checkSchema(schema))
    let session: Session | undefined
    let where: string | undefined
    try {
      const [server] = await conn.query<{ id: string, db: string }>('select system_identifier::text as id, current_database() as db from pg_control_system()')
      const here = `${server!.id}/${server!.db}/${conn.schema}`
      if (openHere.has(here)) throw new AnnalsError('ANNALS_LOCKED', `The schema ${conn.schema} of database ${server!.db} is already open in this process: use the database object it gave (other processes may open it too)`)
      openHere.add(where = here)
      await ensureSchema(conn)
      let writer: PostgresWriter | undefined
      // listening first, then reading the head: no commit falls between the two
      session = await Session.start(conn, {
        commit: (last, time) => { writer?.advance({ position: last, time }) },
        check: async () => { const head = await readHead(conn); writer?.advance(head) }
      })
      writer = new PostgresWriter(conn, await readHead(conn), await clockOffset(conn))
      await writer.warm()
      return new PostgresBackend(conn, writer, session, where)
    } catch (err) {
      if (where !== undefined) openHere.delete(where)
      await session?.close()
      if (conn.ownPool) await conn.pool.end().catch(() => {})
      throw err
    }
  }

  get head (): LogHead {
    return this.#writer.head
  }

  append (request: AppendRequest): Promise<AppendResult> {
    return this.#writer.append(request)
  }

  appendMany (request: AppendManyRequest): Promise<AppendResult[]> {
    return this.#writer.appendMany(request)
  }

  readLog (range: ReadRange, types?: ReadonlySet<string>): EventChunks {
    return this.#readers.log(range, types)
  }

  readFiltered (range: ReadRange, filter: LogFilter): EventChunks {
    return this.#readers.filtered(range, filter)
  }

  readStream (stream: string, range: ReadRange): EventChunks {
    return this.#readers.stream(stream, range)
  }

  async revision (stream: string): Promise<number> {
    return await this.#writer.revision(stream)
  }

  async revisionAt (stream: string, position: number): Promise<number> {
    const rows = await this.connection.query<{ r: number }>(`select ${this.connection.s}.revision_at($1, $2) as r`, [stream, position])
    return rows[0]!.r
  }

  async positionAt (time: number): Promise<number> {
    const rows = await this.connection.query<{ p: number }>(`select ${this.connection.s}.position_at($1) as p`, [time])
    return rows[0]!.p
  }

  async * streams (options: StreamListOptions): AsyncIterable<StreamSummary> {
    const { prefix, limit } = options
    let after = options.after
    let left = limit
    const pattern = `${prefix.replace(/[\\%_]/g, c => `\\${c}`)}%`
    while (left > 0) {
      const n = Math.min(STREAMS_PAGE, left)
      const rows = await this.connection.query<StreamSummary>(
        `select stream, revision, position, time from ${this.connection.s}.streams where stream like $1${after === undefined ? '' : ' and stream > $3'} order by stream limit $2`,
        after === undefined ? [pattern, n] : [pattern, n, after])
      for (const row of rows) yield row
      left -= rows.length
      if (rows.length < n) return
      after = rows[rows.length - 1]!.stream
    }
  }

  onCommit (listener: CommitListener): () => void {
    return this.#writer.onCommit(listener)
  }

  setHook (hook: AppendHook | undefined): void {
    this.#writer.setHook(hook)
  }

  async tryLock (name: string): Promise<Lock | undefined> {
    return await this.#session.tryLock(name)
  }

  async notify (topic: string, message: string): Promise<void> {
    await this.#session.notify(topic, message)
  }

  onNotice (topic: string, listener: (message: string) => void): () => void {
    return this.#session.onNotice(topic, listener)
  }

  async importer (): Promise<LogImporter> {
    if (this.#writer.head.position >= 0) throw new TypeError('An import needs a database without events')
    return await PostgresImporter.start(this.connection, head => { this.#writer.advance(head) })
  }

  /** Bytes the schema's tables and indexes take on the server. */
  async sizeBytes (): Promise<number> {
    const rows = await this.connection.query<{ size: number | null }>(
      `select sum(pg_total_relation_size(c.oid))::bigint as size from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relkind = 'r'`, [this.connection.schema])
    return rows[0]?.size ?? 0
  }

  async flush (): Promise<void> {
    await this.#writer.flush()
  }

  /** Writes what is accepted and waiting, lets the locks go and ends the pool annals made (a given pool stays open). */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.flush()
      } finally {
        await this.#session.close()
        if (this.connection.ownPool) await this.connection.pool.end().catch(() => {})
        openHere.delete(this.#where)
      }
    })()
    return this.#closing
  }
}
