// Importing a log into an empty PostgreSQL backend (`annals import`): events written at their
// positions, with their revisions, commit times and ids, in one transaction that holds the head
// row's lock from the start (other writers wait) to `finish`, which writes the streams' rows and
// the head, and commits; `abort` rolls it all back. Each `add` runs in a savepoint: a batch that
// fails (an id stored before) leaves the import where it was.
//
// A log exported from a database whose events were partly removed (deleted streams, an archive)
// has holes: their positions stay taken here too, recorded as removed, and a stream whose first
// revisions are missing starts later (a truncation). The system events of `$streams` set the
// rules of streams' lives they record, as they did where the log came from.
import type pg from 'pg'
import { AnnalsError } from '../../errors.js'
import { LIFECYCLE_STREAM, type LogHead, type LogImporter, type PlacedEvent } from '../backend.js'
import { lifecycleOf } from '../lifecycle.js'
import { RevisionCache } from '../revision-cache.js'
import { Rules } from '../rules.js'
import type { WriteOp } from '../../storage/storage.js'
import { placeholders } from './batch.js'
import { boolArray, byteaArray, int4Array, int8Array, textArray } from './binary-arrays.js'
import { rollback, sqlState, storageError, type Connection } from './connection.js'
import { readySum } from './rows.js'

/** Streams whose revision is kept in memory during an import; others are read back. */
const REVISION_CACHE_SIZE = 65536

export class PostgresImporter implements LogImporter {
  readonly #conn: Connection
  readonly #client: pg.PoolClient
  readonly #done: (head: LogHead) => Promise<void>
  readonly #revisions = new RevisionCache(REVISION_CACHE_SIZE)
  readonly #insert: string
  /** the rules of streams' lives the imported system events set */
  readonly #rules = new Rules()
  #next = 0
  /** events imported (positions less the holes) */
  #count = 0
  #time = 0
  #over = false

  private constructor (conn: Connection, client: pg.PoolClient, done: (head: LogHead) => Promise<void>) {
    this.#conn = conn
    this.#client = client
    this.#done = done
    const s = conn.s
    this.#insert = `with x as (select * from unnest(${placeholders(['bigint[]', 'text[]', 'bigint[]', 'text[]', 'text[]', 'integer[]', 'integer[]', 'integer[]',
      'bytea[]', 'bytea[]', 'boolean[]', 'bytea[]', 'bigint[]', 'integer[]'])}) as x(p, s, r, i, ty, v, tf, tt, d, m, se, dg, t, su)),
      e as (insert into ${s}.events (position, stream, revision, id, type, version, tags, data, metadata, sealed, digest, time, sum)
        select p, s, r, i, ty, v, case when tf <= tt then ($15::text[])[tf:tt] end, d, m, se, dg, t, su from x)
      insert into ${s}.event_tags (tag, position) select g, p from unnest($15::text[], $16::bigint[]) as y(g, p)`
  }

  /** An importer into the log of `conn`, which must be empty (a `TypeError` otherwise); `done` is told the head once it commits. */
  static async start (conn: Connection, done: (head: LogHead) => Promise<void>): Promise<PostgresImporter> {
    const client = await conn.connect()
    try {
      await client.query('begin')
      const head = await conn.queryOn<{ position: number }>(client, `select position from ${conn.s}.head for update`)
      const any = await conn.queryOn(client, `select 1 from ${conn.s}.events limit 1`)
      if (head[0]!.position >= 0 || any.length > 0) throw new TypeError('An import needs a database without events')
    } catch (err) {
      await rollback(client)
      throw err
    }
    return new PostgresImporter(conn, client, done)
  }

  get count (): number {
    return this.#count
  }

  async add (events: readonly PlacedEvent[]): Promise<void> {
    if (this.#over) throw new TypeError('This import is finished')
    if (events.length === 0) return
    const cols = {
      p: [] as number[], s: [] as string[], r: [] as number[], i: [] as string[], ty: [] as string[], v: [] as number[], tf: [] as number[], tt: [] as number[],
      d: [] as Buffer[], m: [] as Array<Buffer | null>, se: [] as boolean[], dg: [] as Array<Buffer | null>, t: [] as number[], su: [] as number[]
    }
    const tags: string[] = []
    const tagPositions: number[] = []
    const revisions = new Map<string, number>()
    const ids = new Map<string, number>()
    let position = this.#next
    let time = this.#time
    const holes: Array<[number, number]> = []
    // the rules the system events set, and what to do once they are written
    const ops: WriteOp[] = []
    const applied: Array<() => void> = []
    for (const placed of events) {
      const at = `The event at position ${placed.position}`
      const e = placed.event
      if (!Number.isSafeInteger(placed.position) || placed.position < position) {
        throw invalid(`${at} comes where position ${position} or a later one was expected: an import holds a log in position order`)
      }
      if (!Number.isSafeInteger(placed.time) || placed.time < time) {
        throw invalid(`${at} has time ${placed.time}: times are milliseconds since the epoch and never decrease (the event before has ${time})`)
      }
      if (e.id.includes('\u0000') || e.type.includes('\u0000')) throw invalid(`${at} has NUL (\\u0000) in its id or type, which PostgreSQL's text cannot hold`)
      // positions skipped are events removed where the log came from: they stay taken, removed
      if (placed.position > position) holes.push([position, placed.position - 1])
      position = placed.position
      const current = revisions.get(placed.stream) ?? this.#revisions.get(placed.stream) ?? await this.#storedRevision(placed.stream)
      if (current === -1 && placed.revision > 0 && this.#rules.stream(placed.stream) === undefined) {
        // a stream whose first revisions were removed where it came from starts later here too
        applied.push(this.#rules.stageStream(ops, placed.stream, { truncateBefore: placed.revision, tombstoned: false }))
      } else if (placed.revision !== current + 1) {
        throw invalid(`${at} has revision ${placed.revision} of stream '${placed.stream}', whose next revision is ${current + 1}`)
      }
      if (placed.stream === LIFECYCLE_STREAM) {
        const change = lifecycleOf(e)
        if (change !== undefined) applied.push(change(ops, this.#rules))
      }
      if (ids.has(e.id)) throw new AnnalsError('ANNALS_DUPLICATE_ID', `${at} has the id '${e.id}' of the event at position ${ids.get(e.id)!}`)
      ids.set(e.id, position)
      cols.p.push(position)
      cols.s.push(placed.stream)
      cols.r.push(placed.revision)
      cols.i.push(e.id)
      cols.ty.push(e.type)
      cols.v.push(e.version)
      cols.tf.push(tags.length + 1)
      for (const tag of e.tags ?? []) {
        tags.push(tag)
        tagPositions.push(position)
      }
      cols.tt.push(tags.length)
      cols.d.push(e.data)
      cols.m.push(e.metadata ?? null)
      cols.se.push(e.sealed)
      cols.dg.push(e.digest ?? null)
      cols.t.push(placed.time)
      cols.su.push(readySum(placed.stream, placed.revision, e))
      revisions.set(placed.stream, placed.revision)
      time = placed.time
      position++
    }
    try {
      await this.#client.query('savepoint add')
      await this.#client.query(this.#conn.statement(this.#insert, [
        int8Array(cols.p), textArray(cols.s), int8Array(cols.r), textArray(cols.i), textArray(cols.ty), int4Array(cols.v), int4Array(cols.tf), int4Array(cols.tt),
        byteaArray(cols.d), byteaArray(cols.m), boolArray(cols.se), byteaArray(cols.dg), int8Array(cols.t), int4Array(cols.su), textArray(tags), int8Array(tagPositions)]))
      if (holes.length > 0) {
        await this.#client.query(this.#conn.statement(`insert into ${this.#conn.s}.removed (first, last) select * from unnest($1::bigint[], $2::bigint[])`, [holes.map(h => h[0]), holes.map(h => h[1])]))
      }
      for (const op of ops) {
        await this.#client.query(this.#conn.statement(op.value === undefined
          ? `delete from ${this.#conn.s}.kv where k = $1`
          : `insert into ${this.#conn.s}.kv (k, v) values ($1, $2) on conflict (k) do update set v = excluded.v`, op.value === undefined ? [op.key] : [op.key, op.value]))
      }
      await this.#client.query('release savepoint add')
    } catch (err) {
      await this.#client.query('rollback to savepoint add').catch(() => {})
      if (sqlState(err) === '23505' && (err as { constraint?: string }).constraint === 'events_id') {
        throw new AnnalsError('ANNALS_DUPLICATE_ID', `An event of this batch has the id of an event imported before (${(err as { detail?: string }).detail ?? ''})`)
      }
      throw storageError(err)
    }
    for (const apply of applied) apply()
    for (const [stream, revision] of revisions) this.#revisions.set(stream, revision)
    this.#next = position
    this.#time = time
    this.#count += events.length
  }

  /** The last revision of a stream imported so far, read back. */
  async #storedRevision (stream: string): Promise<number> {
    const rows = await this.#conn.queryOn<{ revision: number | null }>(this.#client, `select max(revision) as revision from ${this.#conn.s}.events where stream = $1`, [stream])
    return rows[0]?.revision ?? -1
  }

  async finish (): Promise<LogHead> {
    if (this.#over) throw new TypeError('This import is finished')
    const s = this.#conn.s
    const head = { position: this.#next - 1, time: this.#time }
    try {
      await this.#client.query(`insert into ${s}.streams (stream, revision, position, time, kept_from)
        select l.stream, l.revision, l.position, l.time, f.first from
          (select distinct on (stream) stream, revision, position, time from ${s}.events order by stream, revision desc) l
          join (select stream, min(revision) as first from ${s}.events group by stream) f on f.stream = l.stream`)
      await this.#client.query(this.#conn.statement(`update ${s}.head set position = $1, time = $2`, [head.position, head.time]))
      if (head.position >= 0) await this.#client.query(this.#conn.statement('select pg_notify($1, $2)', [this.#conn.channel, `c0:${head.position}:${head.time}`]))
      await this.#client.query('commit')
    } catch (err) {
      this.#over = true
      await rollback(this.#client)
      throw storageError(err)
    }
    this.#over = true
    this.#client.release()
    await this.#done(head)
    return head
  }

  async abort (): Promise<void> {
    if (this.#over) return
    this.#over = true
    await rollback(this.#client)
  }
}

function invalid (message: string): AnnalsError {
  return new AnnalsError('ANNALS_INVALID_EVENT', message)
}
