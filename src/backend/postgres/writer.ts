// The writer of the PostgreSQL backend. Each process groups the appends waiting together
// (group-commit.ts) into one transaction; across processes, transactions take the lock of the
// head row, so positions are handed out in commit order, gap-free (docs/postgres.md).
//
// Two ways to write a group:
//   - one call (`append` in functions.ts), one round trip with its commit: the batch is built
//     from what this process knows (the revisions it cached, -1 for streams it has not seen; no
//     id given by the caller stored yet; with the append hook, the head where it last saw it),
//     and the function checks under the lock that this was so. The way of every group without
//     append conditions: with a single writing process its assumptions hold.
//   - under the lock (`prepare`, then `write`, in a transaction): the checks read what they need
//     after taking the lock, and the append hook runs while it is held. For groups with
//     conditions, and when the one call found its assumptions stale.
// A commit whose outcome the connection took away is looked for (outcome.ts) before anything is
// answered.
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { WriterFigures } from '../../diagnostics/figures.js'
import { AnnalsError } from '../../errors.js'
import type { AppendResult } from '../../log/types.js'
import { firstBatch, type Placed } from '../append-checks.js'
import type { AppendHook, AppendManyRequest, AppendRequest, CommitListener, LogHead } from '../backend.js'
import { GroupCommit } from '../group-commit.js'
import { RevisionCache } from '../revision-cache.js'
import { Rules, Visibility, ruleKey } from '../rules.js'
import { Batch, groupKeys, placeholders, type Request } from './batch.js'
import { byteaArray, int8Array, textArray } from './binary-arrays.js'
import { rollback, sqlState, storageError, type Connection } from './connection.js'
import { uncertain, whetherWritten } from './outcome.js'
import { prepare, prepareSql, visibleConflicts } from './prepare.js'
import { kvArgs, type PostgresStorage } from './storage.js'

/** Streams whose revision is kept in memory. */
const REVISION_CACHE_SIZE = 65536
/** A database of at most this many streams has all of theirs cached at open; a larger one, those of its last events. */
const WARM_STREAMS = 8192
const WARM_EVENTS = 1024
/** Calls of the one-call path a group makes while only revisions it assumed were stale, before it goes under the lock. */
const ONE_CALL_TRIES = 3
/**
 * Revisions a stream appended to without an expected revision may be found further on than this
 * process assumed, and the one call still write (each event sent with a checksum for each): once
 * a call found revisions stale (other processes append to the same streams), rather than call
 * again. See Batch.looseArgs.
 */
const LOOSE_SPREAD = 8
/** How long a transaction may wait on this process with the head row locked before the server ends it. */
export const LOCK_IDLE_TIMEOUT = '30s'

const EVENT_TYPES = ['text[]', 'bigint[]', 'text[]', 'text[]', 'integer[]', 'integer[]', 'integer[]', 'bytea[]', 'bytea[]',
  'boolean[]', 'bytea[]', 'integer[]', 'text[]', 'integer[]', 'text[]', 'bigint[]', 'integer[]']

const NO_IDS = new Map<string, Placed>()
const NO_CONFLICTS = new Map<Request, number>()

interface AppendRow { o_first: number | null, o_time: number | null, o_stale: string | null, o_actual: number | null }
export class PostgresWriter {
  readonly #conn: Connection
  readonly #revisions = new RevisionCache(REVISION_CACHE_SIZE)
  readonly #listeners = new Set<CommitListener>()
  readonly #queue: GroupCommit<Request, AppendResult[]>
  /** what this process's writer counted, for db.stats() */
  readonly figures: WriterFigures
  /** this process's name where it claims inline projections (the head row's hook_owner) */
  readonly #instance = randomUUID()
  /** the head when this backend opened: inline projections run by others after it make ours stale */
  readonly #openedAt: number
  /** the server's clock less this process's, in ms: times the hook sees before the lock are the server's */
  readonly #clockOffset: number
  readonly #appendSql: string
  readonly #appendOneSql: string
  readonly #prepareSql: string
  readonly #writeSql: string
  readonly #storage: PostgresStorage
  /** the session's connection (session.ts), while it is up and LISTENing */
  readonly #listening: () => pg.Client | undefined
  /** told once a batch that changed streams' lives is committed */
  readonly #rulesChanged: () => void
  #hook: AppendHook | undefined
  #head: LogHead
  /** checksums an event of the one call carries: 1 until a call found revisions stale, then LOOSE_SPREAD */
  #spread = 1
  #complete = false
  /**
   * The rules of streams' lives as this process knows them: read again under the lock by every
   * batch that goes there, and when another process says it changed them (a notice). Appends to
   * a stream with a rule of its own always go under the lock, so a tombstone holds across processes.
   */
  rules: Rules

  constructor (conn: Connection, head: LogHead, clockOffset: number, storage: PostgresStorage, rules: Rules, rulesChanged: () => void, listening: () => pg.Client | undefined) {
    this.#conn = conn
    this.#listening = listening
    this.#storage = storage
    this.rules = rules
    this.#rulesChanged = rulesChanged
    this.#head = head
    this.#openedAt = head.position
    this.#clockOffset = clockOffset
    const s = conn.s
    this.#appendSql = `select * from ${s}.append(${placeholders(['text[]', 'bigint[]', 'text[]', 'bigint', 'bigint', 'text', 'bigint', ...EVENT_TYPES,
      'bytea[]', 'bytea[]', 'text[]', 'bytea[]', 'text', 'bytea[]', 'text[]', 'integer'])})`
    this.#appendOneSql = `select * from ${s}.append_one(${placeholders(['text', 'bigint', 'text', 'text', 'integer', 'text[]', 'bytea', 'bytea',
      'boolean', 'bytea', 'integer', 'boolean', 'text', 'bytea'])})`
    this.#prepareSql = prepareSql(s)
    this.#writeSql = `select ${s}.write(${placeholders(['bigint', 'bigint', 'text', ...EVENT_TYPES, 'bytea[]', 'bytea[]', 'text[]', 'bytea[]', 'text'])})`
    this.#queue = new GroupCommit(async group => { await this.#commit(group) })
    this.figures = new WriterFigures(() => this.#queue.waiting)
  }

  get head (): LogHead {
    return this.#head
  }

  /**
   * The log is known to reach `head` (a commit of this process or another's, heard or read):
   * moves the head on and tells the listeners what came after the head known before.
   */
  advance (head: LogHead): void {
    const before = this.#head.position
    if (head.position <= before) return
    this.#head = { position: head.position, time: Math.max(head.time, this.#head.time) }
    for (const listener of this.#listeners) {
      try {
        listener(before + 1, head.position)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
  }

  append (request: AppendRequest): Promise<AppendResult> {
    const { sync, condition, ...part } = request
    return this.appendMany({ parts: [part], sync, condition }).then(results => results[0]!)
  }

  appendMany (request: AppendManyRequest): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      let size = request.lifecycle === undefined ? 0 : 1
      for (const part of request.parts) size += part.events.length
      this.#queue.push({ append: request, size, resolve, reject, at: performance.now() })
    })
  }

  /**
   * Caches the revisions of every stream of a small database (then a stream not in the cache
   * is new, as far as this process knows), or of the streams of a large one's last events: those
   * most likely to be appended to next. Their appends then go in one call (see #oneCall).
   */
  async warm (): Promise<void> {
    const s = this.#conn.s
    let rows = await this.#conn.query<{ stream: string, revision: number }>(`select stream, revision from ${s}.streams limit ${WARM_STREAMS + 1}`)
    this.#complete = rows.length <= WARM_STREAMS
    if (!this.#complete) {
      rows = await this.#conn.query(`select stream, max(revision) as revision from (select stream, revision from ${s}.events order by position desc limit ${WARM_EVENTS}) t group by stream`)
    }
    for (const r of rows) if (this.#revisions.get(r.stream) === undefined) this.#revisions.set(r.stream, r.revision)
  }

  /** Whether every stream stored when this process opened is in the cache (and none was evicted since). */
  get #knowsAll (): boolean {
    if (this.#revisions.size >= this.#revisions.capacity) this.#complete = false
    return this.#complete
  }

  /** The revision of the last event of `stream` as stored now, or -1. */
  async revision (stream: string): Promise<number> {
    const rows = await this.#conn.query<{ revision: number }>(`select revision from ${this.#conn.s}.streams where stream = $1`, [stream])
    return rows[0]?.revision ?? -1
  }

  setHook (hook: AppendHook | undefined): void {
    this.#hook = hook
  }

  onCommit (listener: CommitListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves once every append accepted so far is written (or failed). */
  async flush (): Promise<void> {
    await this.#queue.drain()
  }

  /** Writes a group as one batch, or more where its conditions must see a change to a stream's life before them (firstBatch). */
  async #commit (group: Request[]): Promise<void> {
    const n = firstBatch(group)
    await this.#batch(n === group.length ? group : group.slice(0, n))
    if (n < group.length) await this.#commit(group.slice(n))
  }

  async #batch (group: Request[]): Promise<void> {
    const rules = this.rules
    const locked = group.some(q => q.append.condition !== undefined || q.append.lifecycle !== undefined ||
      (rules.any && q.append.parts.some(p => rules.stream(p.stream) !== undefined)))
    if (locked) await this.#locked(group)
    else await this.#oneCall(group)
  }

  /**
   * The group in one call, from what this process knows; under the lock if that was stale. The
   * hook (inline projections) sees the events where they go if the head has not moved. Stale
   * revisions alone (other processes appended to the group's streams) are learned from the
   * function's answer and the call is made again, up to {@link ONE_CALL_TRIES} calls in all:
   * the path under the lock holds the head row across several round trips, which other
   * processes wait for.
   */
  async #oneCall (group: Request[], tries = 1): Promise<void> {
    const hook = this.#hook
    const { streams, ids } = groupKeys(group)
    // a handler of the hook that saw a stale revision would run again under the lock: the
    // revisions of streams this process may not know are read first
    const unknown = hook === undefined || this.#knowsAll ? [] : streams.filter(s => this.#revisions.get(s) === undefined)
    if (unknown.length > 0) {
      try {
        const found = new Map((await this.#conn.query<{ stream: string, revision: number }>(
          `select stream, revision from ${this.#conn.s}.streams where stream = any($1::text[])`, [unknown])).map(r => [r.stream, r.revision]))
        for (const stream of unknown) this.#revisions.set(stream, found.get(stream) ?? -1)
      } catch (err) {
        for (const q of group) q.reject(err)
        return
      }
    }
    const assumed = streams.map(s => this.#revisions.get(s) ?? -1)
    const before = new Map(streams.map((s, i) => [s, assumed[i]!]))
    const head = this.#head
    // without the hook, positions from 0, moved to where the function puts them
    const first = hook === undefined ? 0 : head.position + 1
    const time = hook === undefined ? 0 : Math.max(head.time, Date.now() + this.#clockOffset)
    const batch = await Batch.build(group, { revision: s => before.get(s)!, ids: NO_IDS, conflicts: NO_CONFLICTS }, first, time, hook, this.rules)
    try {
      if (batch.hooked && hook?.finish !== undefined) batch.writes.push(...hook.finish())
    } catch (err) {
      hook?.settle(false)
      batch.fail(err)
      return
    }
    const hooked = batch.hooked
    // in `append`, streams without an expected revision may have moved on (no hook, no ids to
    // look for); a single event (an awaited append) goes through the function of scalar
    // parameters, unless it may (other processes were found appending to this one's streams):
    // `append_one` would find it stale, and the event take another call
    const spread = hook === undefined && ids.length === 0 ? this.#spread : 1
    const loose = batch.looseArgs(spread)
    const single = batch.single && streams.length === 1 && loose.loose.length === 0
    // the arguments first: what cannot be sent fails the batch here, never as a lost connection
    let call: pg.QueryConfig
    try {
      call = single
        ? this.#conn.statement(this.#appendOneSql, [...batch.oneArgs(ids.length > 0), this.#conn.channel, ruleKey(streams[0]!)])
        : this.#conn.statement(this.#appendSql, [textArray(streams), int8Array(assumed), textArray(ids),
          hooked ? head.position : null, hooked ? time : null, hooked ? this.#instance : null, this.#openedAt,
          ...batch.eventArgs(loose.sums), ...kvArgs(batch.writes), this.#conn.channel, byteaArray(streams.map(ruleKey)), textArray(loose.loose), spread])
    } catch (err) {
      hook?.settle(false)
      batch.fail(err)
      return
    }
    // the session's connection, which LISTENs, when it is up: the notification of this commit
    // then comes back with its answer, and wakes no other server process of this one's
    const own = this.#listening()
    let client: pg.ClientBase
    try {
      client = own ?? await this.#conn.connect()
    } catch (err) {
      hook?.settle(false)
      batch.fail(err)
      return
    }
    const release = (err?: Error): void => { if (client !== own) (client as pg.PoolClient).release(err) }
    let rows: AppendRow[]
    try {
      rows = (await client.query<AppendRow>(call)).rows
      release()
    } catch (err) {
      release(err as Error)
      if (!uncertain(err)) {
        hook?.settle(false)
        // a unique key broken by an id given twice at once: the checks under the lock find it
        if (sqlState(err) === '23505') return await this.#locked(group)
        batch.fail(storageError(err))
        return
      }
      const written = await whetherWritten(this.#conn, client, batch, err)
      hook?.settle(written !== undefined)
      if (written === undefined) return
      try {
        rows = [{ o_first: written.first, o_time: written.time, o_stale: null, o_actual: null }, ...await this.#movedIn(batch, written.first, loose.loose)]
      } catch (err) {
        batch.fail(new AnnalsError('ANNALS_STORAGE', 'The connection to PostgreSQL was lost while appends were being committed; they were, but where their streams\' revisions went could not be read: read them back by their ids', { cause: err }))
        return
      }
    }
    const stale = rows.filter(r => r.o_first === null && r.o_stale !== null)
    if (stale.length > 0 || rows[0]?.o_first === null) {
      hook?.settle(false)
      if (stale.length > 0) this.#spread = LOOSE_SPREAD
      for (const r of stale) this.#revisions.set(r.o_stale!, r.o_actual!)
      if (stale.length === rows.length && tries < ONE_CALL_TRIES) await this.#oneCall(group, tries + 1)
      else await this.#locked(group)
      return
    }
    hook?.settle(batch.count > 0)
    // loose streams the call found further on: moved by o_actual
    batch.moved(new Map(rows.filter(r => r.o_first !== null && r.o_stale !== null).map(r => [r.o_stale!, r.o_actual!])))
    const { o_first: at, o_time: committed } = rows[0]!
    this.#written(batch, at!, committed!)
    batch.settle(hook === undefined ? at! : 0)
  }

  /** The group checked and written under the lock, the hook taking part. */
  async #locked (group: Request[]): Promise<void> {
    const hook = this.#hook
    let client: pg.PoolClient
    try {
      client = await this.#conn.connect()
    } catch (err) {
      for (const q of group) q.reject(err)
      return
    }
    let batch: Batch | undefined
    let first: number
    let time: number
    try {
      await client.query(`begin; set local idle_in_transaction_session_timeout = '${LOCK_IDLE_TIMEOUT}'`)
      const prepared = await prepare(this.#conn, client, this.#prepareSql, group)
      for (const [stream, revision] of prepared.revisions) this.#revisions.set(stream, revision)
      first = prepared.head + 1
      time = prepared.time
      // what others committed before the lock: the hook's members catch up on it from the log
      this.advance({ position: prepared.head, time: prepared.headTime })
      // the rules as they stand: any process that changed them committed before the lock was ours
      this.rules = await Rules.load(this.#storage)
      // conditions see what reads see: an event the rules hide is no conflict
      if (this.rules.any && prepared.known.conflicts.size > 0) {
        prepared.known = { ...prepared.known, conflicts: await visibleConflicts(this.#conn, client, this.#prepareSql, prepared, new Visibility(this.rules, async s => await this.revision(s))) }
      }
      const owner = prepared.owner
      if (hook !== undefined && owner !== undefined && owner.name !== this.#instance && owner.position > this.#openedAt) {
        const err = new AnnalsError('ANNALS_INLINE_ELSEWHERE', 'Another process has run inline projections on this database since this one opened it: ' +
          'appends of this process, which runs inline projections too, are refused (run inline projections in one process, or make them async)')
        await rollback(client)
        for (const q of group) q.reject(err)
        return
      }
      batch = await Batch.build(group, prepared.known, first, time, hook, this.rules)
      if (batch.hooked && hook?.finish !== undefined) batch.writes.push(...hook.finish())
      if (batch.count === 0) {
        await rollback(client)
        hook?.settle(false)
        batch.settle(0)
        return
      }
      await this.#conn.queryOn(client, this.#writeSql, [first, time, batch.hooked ? this.#instance : null, ...batch.eventArgs(),
        ...kvArgs(batch.writes), this.#conn.channel])
    } catch (err) {
      await rollback(client)
      hook?.settle(false)
      if (batch === undefined) for (const q of group) q.reject(storageError(err))
      else batch.fail(storageError(err))
      return
    }
    try {
      await client.query('commit')
      client.release()
    } catch (err) {
      client.release(err as Error)
      const written = uncertain(err) ? await whetherWritten(this.#conn, client, batch, err) : undefined
      if (written === undefined) {
        hook?.settle(false)
        if (!uncertain(err)) batch.fail(storageError(err))
        return
      }
    }
    hook?.settle(true)
    this.#written(batch, first, time)
    batch.settle(0)
  }

  /**
   * The loose streams of a batch committed at `first` whose outcome was looked for (the connection
   * went): how far on the call moved them, as `append` answers it, read from the rows written.
   */
  async #movedIn (batch: Batch, first: number, loose: string[]): Promise<AppendRow[]> {
    if (loose.length === 0) return []
    const rows = await this.#conn.query<{ stream: string, revision: number }>(
      `select stream, max(revision) as revision from ${this.#conn.s}.events where position >= $1 and position < $2 and stream = any($3::text[]) group by stream`,
      [first, first + batch.count, loose])
    return rows.filter(r => r.revision !== batch.written.get(r.stream)!.revision)
      .map(r => ({ o_first: first, o_time: null, o_stale: r.stream, o_actual: r.revision - batch.written.get(r.stream)!.revision }))
  }

  /** A batch was committed at `first`: revisions cached, head moved on. */
  #written (batch: Batch, first: number, time: number): void {
    if (batch.count === 0) return
    const now = performance.now()
    const answered = batch.outcomes.filter(o => o.error === undefined)
    for (const o of answered) this.figures.latency.add(now - o.request.at)
    this.figures.batch(answered.length, batch.count)
    if (batch.ruleChanges.length > 0) {
      for (const apply of batch.ruleChanges) apply()
      this.#rulesChanged()
    }
    for (const [stream, w] of batch.written) this.#revisions.set(stream, w.revision)
    this.advance({ position: first + batch.count - 1, time })
  }
}
