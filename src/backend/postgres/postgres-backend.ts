// The PostgreSQL backend: the log and the key spaces in tables of one schema, written by any
// number of processes on any number of machines. Composes the schema (schema.ts), the writer
// (writer.ts), the readers (readers.ts), the key spaces (storage.ts), the session that hears
// commits and notices and holds locks (session.ts), and the importer (import.ts). How it all
// works, and what a user must know, is docs/postgres.md.
import type pg from 'pg'
import type {
  AppendHook, AppendManyRequest, AppendRequest, Backend, CommitListener, EventChunks, Lock, LogFilter, LogHead, LogImporter, ReadRange,
  ScavengeReport, StreamListOptions, StreamRule, StreamSummary
} from '../backend.js'
import { Rules, Visibility } from '../rules.js'
import type { WriterFigures } from '../../diagnostics/figures.js'
import { AnnalsError } from '../../errors.js'
import type { AppendResult } from '../../log/types.js'
import { Connection, checkSchema } from './connection.js'
import { PostgresImporter } from './import.js'
import { Readers } from './readers.js'
import { clockOffset, ensureSchema, readHead } from './schema.js'
import { Session } from './session.js'
import { PostgresStorage } from './storage.js'
import { scavenge } from './scavenge.js'
import { PostgresWriter } from './writer.js'

/** The schema annals works in when none is given. */
export const DEFAULT_SCHEMA = 'annals'

/** The topic of the notice a process sends when it changed the rules of streams' lives. */
const RULES_TOPIC = 'annals:rules'

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
  readonly #stopHearingRules: () => void
  #closing: Promise<void> | undefined
  /** whether a scavenge of this process deleted rows that no compaction has taken out of the files yet */
  #scavenged = false

  private constructor (conn: Connection, storage: PostgresStorage, writer: PostgresWriter, session: Session, where: string) {
    this.connection = conn
    this.#where = where
    this.storage = storage
    this.#writer = writer
    this.#session = session
    this.#readers = new Readers(conn, () => writer.head.position, head => { writer.advance(head) }, () => this.#visibility())
    // another process changed the rules: read them again
    this.#stopHearingRules = session.onNotice(RULES_TOPIC, () => { void this.#reloadRules() })
  }

  /** What one read sees of the rules of streams' lives; none when no rule hides anything. */
  #visibility (): Visibility | undefined {
    const rules = this.#writer.rules
    return rules.any ? new Visibility(rules, async stream => await this.#writer.revision(stream)) : undefined
  }

  async #reloadRules (): Promise<void> {
    try {
      this.#writer.rules = await Rules.load(this.storage)
    } catch {
      // the next batch under the lock, or the next notice, reads them again
    }
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
      const storage = new PostgresStorage(conn)
      const opened = session
      writer = new PostgresWriter(conn, await readHead(conn), await clockOffset(conn), storage, await Rules.load(storage), () => {
        opened.notify(RULES_TOPIC, '').catch(() => {})
      }, () => opened.listening)
      await writer.warm()
      return new PostgresBackend(conn, storage, writer, session, where)
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

  get figures (): WriterFigures {
    return this.#writer.figures
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

  async streamRule (stream: string): Promise<StreamRule | undefined> {
    return this.#writer.rules.stream(stream)
  }

  async streamStart (stream: string): Promise<number> {
    const rules = this.#writer.rules
    if (!rules.any) return 0
    const own = rules.stream(stream)
    const last = await this.#writer.revision(stream)
    if (own?.tombstoned === true) return last + 1
    let start = own?.truncateBefore ?? 0
    const retention = rules.retention(stream)
    if (retention?.maxCount !== undefined) start = Math.max(start, last - retention.maxCount + 1)
    // an age, or an archive: the first revision committed at or after the bound
    const after = async (position: number): Promise<number> => position < 0 ? 0 : await this.revisionAt(stream, position) + 1
    if (retention?.maxAge !== undefined) start = Math.max(start, await after(await this.positionAt(Date.now() - retention.maxAge - 1)))
    if (rules.archivedBefore > 0) start = Math.max(start, await after(rules.archivedBefore - 1))
    return Math.min(start, last + 1)
  }

  /**
   * Deletes the rows of what no longer reads (scavenge.ts), under the rules as they are stored
   * now (another process may have changed them a moment ago).
   */
  async scavenge (progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void): Promise<ScavengeReport> {
    await this.flush()
    const rules = this.#writer.rules = await Rules.load(this.storage)
    const report = await scavenge(this.connection, rules, async stream => await this.#writer.revision(stream), progress, onRemoved)
    if (report.removed > 0) this.#scavenged = true
    return report
  }

  /**
   * VACUUM FULL of the tables a scavenge deletes from (events, their tags, the key spaces, where
   * the layers above dropped what removed events fed), after a scavenge of this process deleted
   * rows: each table is rewritten, and the old files, with the deleted rows' bytes, are removed.
   * It holds each table's exclusive lock while it rewrites it (reads and appends of every
   * process wait). Without such a scavenge, a no-op: nothing to take out of the files.
   */
  async compact (): Promise<void> {
    if (!this.#scavenged) return
    const s = this.connection.s
    for (const table of ['events', 'event_tags', 'kv']) await this.connection.query(`vacuum full ${s}.${table}`)
    this.#scavenged = false
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
      const rules = this.#writer.rules
      for (const row of rows) {
        // a stream that reads nothing any more (tombstoned, or deleted and not written since) is not listed
        const rule = rules.any ? rules.stream(row.stream) : undefined
        if (rule !== undefined && (rule.tombstoned || rule.truncateBefore > row.revision)) continue
        left--
        yield row
        if (left <= 0) return
      }
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
    return await PostgresImporter.start(this.connection, async head => {
      this.#writer.advance(head)
      this.#writer.rules = await Rules.load(this.storage)
    })
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
        this.#stopHearingRules()
        await this.#session.close()
        if (this.connection.ownPool) await this.connection.pool.end().catch(() => {})
        openHere.delete(this.#where)
      }
    })()
    return this.#closing
  }
}
