// The default key store of a database on PostgreSQL: subjects' keys in a table of their own
// (`keys`, in the database's schema), wrapped under a master key if one is given.
//
// Deleting a row leaves its bytes in the table's file until the table is rewritten, so a shred
// deletes the subject's row, waits until no transaction can still see it, and rewrites the table
// (VACUUM FULL): its old file is emptied at once, and the row is in none of the table's files.
// What PostgreSQL keeps elsewhere for a while (WAL, replicas, backups) is in docs/privacy.md.
import pg from 'pg'
import { AnnalsError } from '../errors.js'
import { keysTableSql } from '../backend/postgres/tables.js'
import { checkSchema, storageError } from '../backend/postgres/connection.js'
import { checkOptions } from '../log/validate.js'
import type { SubjectKey } from './cipher.js'
import { newKey, wipe, type KeyStore } from './key-store.js'
import { checkMasterKey, checkRecord, packKey, unpackKey, verifyCheckRecord } from './key-wrapping.js'

/** The subject of the check record, which no data subject can have (their ids are not empty). */
const CHECK = ''
/** How long a shred waits for transactions that could still see the deleted key. */
const SNAPSHOT_WAIT_MS = 30_000
/** Rows re-wrapped per statement when the master key changes. */
const ROTATE_PAGE = 1000

/** Options of {@link PostgresKeyStore}. */
export interface PostgresKeyStoreOptions {
  /** 32 bytes: keys are stored wrapped (encrypted) under it. Without it, they are stored as they are. */
  masterKey?: Uint8Array
  /** The schema of the `keys` table (made if need be). Default `annals`. */
  schema?: string
}

/**
 * Subjects' keys in a PostgreSQL table, wrapped under a master key if one is given. The default
 * key store of `open({ postgres })`; give one of your own to keep keys in another database.
 *
 * @example
 * ```ts
 * const keyStore = new PostgresKeyStore('postgres://keys@vault.internal/keys', { masterKey })
 * const db = await open({ postgres: 'postgres://app@db.internal/app' }, { keyStore })
 * ```
 */
export class PostgresKeyStore implements KeyStore {
  readonly #pool: pg.Pool
  readonly #ownPool: boolean
  readonly #s: string
  #masterKey: Buffer | undefined
  #ready: Promise<void> | undefined
  /** keys made in the same turn of the event loop, written with one statement */
  #pending: Array<{ subject: string, key: SubjectKey, done: (err: unknown, key?: SubjectKey) => void }> = []
  readonly #creating = new Map<string, Promise<SubjectKey>>()
  /** a master key rotation under way: writes and shreds wait for it */
  #rotating: Promise<void> | undefined

  /** `postgres`: a URL (a pool is made, and ended by `close`) or a pg pool of yours. */
  constructor (postgres: string | pg.Pool, options?: PostgresKeyStoreOptions) {
    const { masterKey, schema } = checkOptions<PostgresKeyStoreOptions>(options, 'PostgresKeyStore', ['masterKey', 'schema'])
    if (typeof postgres === 'string') {
      this.#pool = new pg.Pool({ connectionString: postgres, max: 4 })
      this.#pool.on('error', () => {})
      this.#ownPool = true
    } else if (typeof postgres === 'object' && postgres !== null && typeof postgres.query === 'function' && typeof postgres.connect === 'function') {
      this.#pool = postgres
      this.#ownPool = false
    } else {
      throw new TypeError('PostgresKeyStore needs a postgres:// URL or a pg Pool')
    }
    this.#s = `"${checkSchema(schema ?? 'annals')}"`
    if (masterKey !== undefined) this.#masterKey = checkMasterKey(masterKey)
  }

  /** Makes the table if need be and checks the master key now, rather than on first use. */
  async verify (): Promise<void> {
    this.#ready ??= this.#prepare()
    try {
      await this.#ready
    } catch (err) {
      this.#ready = undefined
      throw err
    }
  }

  async #prepare (): Promise<void> {
    await this.#query(`create schema if not exists ${this.#s}`).catch(() => {}) // made by the backend, or not ours to make
    await this.#query(keysTableSql(this.#s))
    await this.#query(`insert into ${this.#s}.keys (subject, value) values ($1, $2) on conflict (subject) do nothing`, [CHECK, checkRecord(this.#masterKey)])
    const rows = await this.#query<{ value: Buffer }>(`select value from ${this.#s}.keys where subject = $1`, [CHECK])
    verifyCheckRecord(this.#masterKey, rows[0]!.value)
  }

  async getOrCreate (subject: string): Promise<SubjectKey> {
    // one creation per subject at a time in this process; across processes, the first insert wins
    const pending = this.#creating.get(subject)
    if (pending !== undefined) return await pending
    const creating = (async () => {
      await this.#settled()
      return await new Promise<SubjectKey>((resolve, reject) => {
        if (this.#pending.length === 0) queueMicrotask(() => { void this.#flush() })
        this.#pending.push({ subject, key: newKey(), done: (err, key) => { if (err === undefined) resolve(key!); else reject(err) } })
      })
    })()
    this.#creating.set(subject, creating)
    try {
      return await creating
    } finally {
      this.#creating.delete(subject)
    }
  }

  /** Inserts the keys waiting; a subject that has one already (made by another process) gets that one. */
  async #flush (): Promise<void> {
    const pending = this.#pending
    this.#pending = []
    try {
      const made = await this.#query<{ subject: string }>(
        `insert into ${this.#s}.keys (subject, value) select * from unnest($1::text[], $2::bytea[]) on conflict (subject) do nothing returning subject`,
        [pending.map(p => p.subject), pending.map(p => this.#pack(p.subject, p.key))])
      const inserted = new Set(made.map(r => r.subject))
      const others = pending.filter(p => !inserted.has(p.subject))
      const stored = others.length === 0
        ? new Map<string, Buffer>()
        : new Map((await this.#query<{ subject: string, value: Buffer }>(`select subject, value from ${this.#s}.keys where subject = any($1::text[])`, [others.map(p => p.subject)])).map(r => [r.subject, r.value]))
      for (const p of pending) {
        if (inserted.has(p.subject)) {
          p.done(undefined, p.key)
          continue
        }
        wipe(p.key)
        const value = stored.get(p.subject)
        if (value === undefined) p.done(new AnnalsError('ANNALS_STORAGE', `The key of subject ${p.subject} was shredded while it was being made`))
        else p.done(undefined, this.#unpack(p.subject, value))
      }
    } catch (err) {
      for (const p of pending) p.done(err)
    }
  }

  async get (subject: string): Promise<SubjectKey | undefined> {
    await this.#settled()
    const rows = await this.#query<{ value: Buffer }>(`select value from ${this.#s}.keys where subject = $1`, [subject])
    return rows[0] === undefined || subject === CHECK ? undefined : this.#unpack(subject, rows[0].value)
  }

  /**
   * Deletes the subject's key, waits until no transaction of the database can still see it
   * (30 s at most), then rewrites the table. ANNALS_STORAGE when a transaction still could
   * after the wait: the row may then survive the rewrite (annals shreds again at the next open).
   */
  async shred (subject: string): Promise<void> {
    if (subject === CHECK) return
    await this.#settled()
    const [{ xid }] = await this.#query<{ xid: string }>(
      `with d as (delete from ${this.#s}.keys where subject = $1 returning 1) select (pg_current_xact_id()::text::bigint % 4294967296)::text as xid from (select count(*) from d) c`, [subject]) as [{ xid: string }]
    const waited = await this.#waitForSnapshots(xid)
    // after a wait that timed out, one rewrite (the next shred or open rewrites it again)
    const kept = await this.#rewrite(waited === undefined)
    const holder = waited ?? kept
    if (holder !== undefined) {
      throw new AnnalsError('ANNALS_STORAGE', `The key of subject ${subject} is deleted, but ${holder} could still see it when the table was rewritten: ` +
        'its bytes may remain in the table\'s files until the next shred or open rewrites it')
    }
  }

  /**
   * Rewrites the table (VACUUM FULL) until it copied no deleted row: a row another session could
   * still see when the rewrite began is copied, and a session's snapshot can come from elsewhere
   * than this database's sessions the wait looked at (a connection starting up, say). What kept
   * a deleted row after the wait, if any.
   */
  async #rewrite (patient: boolean): Promise<string | undefined> {
    const deadline = patient ? Date.now() + SNAPSHOT_WAIT_MS : 0
    const client = await this.#pool.connect().catch(err => { throw storageError(err) })
    let kept = 0
    const notice = (n: { detail?: string }): void => {
      const m = /(\d+) dead row versions cannot be removed yet/.exec(n.detail ?? '')
      if (m !== null) kept += Number(m[1])
    }
    client.on('notice', notice)
    try {
      for (let wait = 10; ; wait = Math.min(wait * 2, 500)) {
        kept = 0
        await client.query(`vacuum (full, verbose) ${this.#s}.keys`).catch(err => { throw storageError(err) })
        if (kept === 0) return undefined
        if (Date.now() > deadline) return `a session that could see ${kept} deleted row${kept === 1 ? '' : 's'}`
        await new Promise(resolve => setTimeout(resolve, wait))
      }
    } finally {
      client.off('notice', notice)
      client.release()
    }
  }

  /** Waits until no backend's snapshot (nor replication slot) predates transaction `xid`; what still does after the wait, if any. */
  async #waitForSnapshots (xid: string): Promise<string | undefined> {
    const deadline = Date.now() + SNAPSHOT_WAIT_MS
    for (let wait = 10; ; wait = Math.min(wait * 2, 500)) {
      const rows = await this.#query<{ holder: string | null }>(
        `select coalesce(
           (select 'the transaction of process ' || pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
              and backend_xmin is not null and age(backend_xmin) >= age($1::text::xid) limit 1),
           (select 'replication slot ' || slot_name from pg_replication_slots where xmin is not null and age(xmin) >= age($1::text::xid) limit 1)
         ) as holder`, [xid])
      const holder = rows[0]?.holder ?? undefined
      if (holder === null || holder === undefined) return undefined
      if (Date.now() > deadline) return holder
      await new Promise(resolve => setTimeout(resolve, wait))
    }
  }

  /**
   * Re-wraps every key under a new master key (or stores them unwrapped, with `undefined`) in
   * one transaction, then rewrites the table so that the old wrapped forms leave its files.
   * Stop the other processes that use the store first: they keep the old master key.
   */
  async rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void> {
    const next = masterKey === undefined ? undefined : checkMasterKey(masterKey)
    await this.#settled()
    const rotating = this.#rotate(next)
    this.#rotating = rotating
    try {
      await rotating
    } finally {
      if (this.#rotating === rotating) this.#rotating = undefined
    }
    await this.#query(`vacuum full ${this.#s}.keys`)
  }

  async #rotate (next: Buffer | undefined): Promise<void> {
    const client = await this.#pool.connect().catch(err => { throw storageError(err) })
    try {
      await client.query('begin')
      await client.query(`lock table ${this.#s}.keys in exclusive mode`)
      let after = CHECK
      for (;;) {
        const rows = (await client.query<{ subject: string, value: Buffer }>(
          `select subject, value from ${this.#s}.keys where subject > $1 order by subject limit ${ROTATE_PAGE}`, [after])).rows
        if (rows.length === 0) break
        const values = rows.map(r => {
          const key = this.#unpack(r.subject, r.value)
          const packed = packKey(next, r.subject, key)
          wipe(key)
          return packed
        })
        await client.query(`update ${this.#s}.keys k set value = u.v from unnest($1::text[], $2::bytea[]) as u(s, v) where k.subject = u.s`, [rows.map(r => r.subject), values])
        after = rows[rows.length - 1]!.subject
      }
      await client.query(`update ${this.#s}.keys set value = $1 where subject = $2`, [checkRecord(next), CHECK])
      await client.query('commit')
      this.#masterKey = next
      client.release()
    } catch (err) {
      await client.query('rollback').catch(() => {})
      client.release()
      throw storageError(err)
    }
  }

  async close (): Promise<void> {
    if (this.#ownPool) await this.#pool.end().catch(() => {})
  }

  /** Ready (table made, master key checked), and no rotation under way. */
  async #settled (): Promise<void> {
    await this.verify()
    while (this.#rotating !== undefined) await this.#rotating.catch(() => {})
  }

  async #query<R extends pg.QueryResultRow = pg.QueryResultRow> (text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.#pool.query<R>(text, values)).rows
    } catch (err) {
      throw storageError(err)
    }
  }

  #pack (subject: string, key: SubjectKey): Buffer {
    return packKey(this.#masterKey, subject, key)
  }

  #unpack (subject: string, value: Buffer): SubjectKey {
    return unpackKey(this.#masterKey, subject, value)
  }
}
