// PostgreSQL rows of `npm run bench`, run when ANNALS_BENCH_POSTGRES names a server (a URL; the
// user must be allowed to create a schema): raw node-postgres doing the I/O the PostgreSQL
// backend does, the reference its figures are compared with in the same run. The events are those
// of the other areas (msgpack data as bytea), in a schema of their own, dropped at the end.
//
// Each raw row is the `baseline` of a workload whose `annals` side does the same on
// `open({ postgres: url })` (a schema of its own, made afresh before each run, outside the
// clock), with the targets: awaited single appends ≥ 0.7 of the single-row
// transactions; appends of 64 concurrent callers ≥ 0.6 of the 100-row inserts; a replay
// (readAll) ≥ 0.7 of the streamed select; 4 processes appending together ≥ 2 times one process
// (postgres-processes.ts: annals against annals, processes of their own).
//
// The single-row transaction is one autocommit INSERT, one round trip with its commit, as an
// awaited append is one call of the schema's `append` function (BEGIN, INSERT, COMMIT would be
// three round trips, a slower reference than annals gets).
import pg from 'pg'
import Cursor from 'pg-cursor'
import { unpack } from 'msgpackr'
import type { Config, Mode } from './options.js'
import { timed } from './lib.js'
import type { Timing, Workload } from './measure.js'
import { eventRows, eventsTable, insertText, type EventRow } from './postgres-lib.js'
import { open, type Annals } from '../src/index.js'
import { eventMaker } from './lib.js'
import { processesWorkloads } from './postgres-processes.js'

const SCHEMA = 'annals_bench_raw'
/** The schemas of the annals side: one written afresh each run, one holding the log a replay reads. */
const WRITE_SCHEMA = 'annals_bench_write'
const READ_SCHEMA = 'annals_bench_read'
const TABLE = `${SCHEMA}.events`

/** Rows of the streamed select, by mode: the log the raw replay reads. */
const selectRows: Record<Mode, number> = { tiny: 2000, quick: 100_000, full: 100_000 }

/** One transaction on a client of the pool: begin, `body`, commit (or rollback when it throws). */
async function transaction (client: pg.ClientBase, body: () => Promise<unknown>): Promise<void> {
  await client.query('begin')
  try {
    await body()
  } catch (err) {
    await client.query('rollback')
    throw err
  }
  await client.query('commit')
}

/**
 * The raw PostgreSQL rows on the server at `url`; `close` drops their schema and ends the pool.
 * Write rows start each run on an empty table (emptied before the clock starts).
 */
export async function postgresWorkloads (config: Config, url: string): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  const { awaited, appends } = config.sizes
  const select = selectRows[config.mode]
  const rows = eventRows(config.shape, Math.max(awaited, appends, select))
  const insert1 = insertText(TABLE, 1)
  const insert100 = insertText(TABLE, 100)
  const hundreds = (from: number, to: number): EventRow[][] => {
    const out: EventRow[][] = []
    for (let i = from; i < to; i += 100) out.push(rows.slice(i, Math.min(i + 100, to)))
    return out
  }

  /** A run of `events` events written by `body` on one client, on an empty table. */
  const writes = (events: number, body: (client: pg.PoolClient) => Promise<void>) => async (): Promise<Timing> => {
    await pool.query(`truncate ${TABLE}`)
    const client = await pool.connect()
    try {
      return await timed(events, async () => { await body(client) })
    } finally { client.release() }
  }

  try {
    for (const statement of eventsTable(SCHEMA)) await pool.query(statement)
  } catch (err) {
    await pool.end()
    throw err
  }

  // the log the streamed select reads, written once: a table of its own
  const log = `${SCHEMA}.log`
  await pool.query(`create table ${log} (like ${TABLE} including all)`)
  for (const batch of hundreds(0, select)) await pool.query(insertText(log, batch.length), batch.flat())
  await pool.query(`vacuum analyze ${log}`)

  // the annals side
  const event = eventMaker(config.shape)
  /** A run of `events` events appended by `body` on a new annals database in its own schema. */
  const annalsWrites = (events: number, body: (db: Annals) => Promise<void>) => async (): Promise<Timing> => {
    await pool.query(`drop schema if exists ${WRITE_SCHEMA} cascade`)
    const db = await open({ postgres: url, schema: WRITE_SCHEMA })
    try {
      return await timed(events, async () => { await body(db) })
    } finally { await db.close() }
  }
  // the log the replay reads, the same count of events as the raw select's, appended 100 at a time
  await pool.query(`drop schema if exists ${READ_SCHEMA} cascade`)
  const replayed = await open({ postgres: url, schema: READ_SCHEMA })
  try {
    for (let i = 0; i < select; i += 100) {
      await replayed.appendMany(Array.from({ length: Math.min(100, select - i) }, (_, k) => {
        const e = event(i + k)
        return { stream: e.stream, events: { type: e.type, data: e.data } }
      }))
    }
  } finally { await replayed.close() }
  const replay = async (): Promise<Timing> => {
    const db = await open({ postgres: url, schema: READ_SCHEMA })
    try {
      return await timed(select, async () => {
        let n = 0
        for await (const e of db.readAll()) if (e.position >= 0) n++
        if (n !== select) throw new Error(`read ${n} events where ${select} were expected`)
      })
    } finally { await db.close() }
  }

  const streamedSelect = async (): Promise<Timing> => {
    const client = await pool.connect()
    try {
      return await timed(select, async () => {
        const cursor = client.query(new Cursor(`select position, stream, revision, type, data, time from ${log} order by position`))
        let n = 0
        try {
          for (let batch = await cursor.read(1000); batch.length > 0; batch = await cursor.read(1000)) {
            for (const row of batch) if (Number(row.position) >= 0 && unpack(row.data) !== undefined) n++
          }
        } finally { await cursor.close() }
        if (n !== select) throw new Error(`read ${n} rows where ${select} were expected`)
      })
    } finally { client.release() }
  }

  const processes = processesWorkloads(url, pool, config.shape, appends, Math.ceil(awaited / 2))
  return {
    workloads: [
      {
        name: 'PostgreSQL: awaited single appends',
        unit: 'events',
        raw: 'raw pg, a single-row INSERT per transaction (autocommit)',
        target: 0.7,
        annals: annalsWrites(awaited, async db => {
          for (let i = 0; i < awaited; i++) {
            const e = event(i)
            await db.append(e.stream, { type: e.type, data: e.data })
          }
        }),
        baseline: writes(awaited, async client => {
          for (let i = 0; i < awaited; i++) await client.query({ name: 'insert1', text: insert1, values: rows[i] })
        })
      },
      {
        name: 'PostgreSQL: single appends of 64 concurrent callers (group commit)',
        unit: 'events',
        raw: 'raw pg, a multi-row INSERT of 100 per transaction',
        target: 0.6,
        annals: annalsWrites(appends, async db => {
          let next = 0
          await Promise.all(Array.from({ length: 64 }, async () => {
            for (let i = next++; i < appends; i = next++) {
              const e = event(i)
              await db.append(e.stream, { type: e.type, data: e.data })
            }
          }))
        }),
        baseline: writes(appends, async client => {
          for (const batch of hundreds(0, appends)) {
            const query = batch.length === 100 ? { name: 'insert100', text: insert100 } : { text: insertText(TABLE, batch.length) }
            await transaction(client, async () => await client.query({ ...query, values: batch.flat() }))
          }
        })
      },
      {
        name: `PostgreSQL: replay, readAll of ${select.toLocaleString('en-US')} events`,
        unit: 'events',
        raw: 'raw pg, a streamed SELECT ORDER BY position, rows decoded',
        target: 0.7,
        annals: replay,
        baseline: streamedSelect
      },
      ...processes.workloads
    ],
    close: async () => {
      try {
        await processes.close()
        for (const schema of [SCHEMA, WRITE_SCHEMA, READ_SCHEMA]) await pool.query(`drop schema if exists ${schema} cascade`)
      } finally {
        await pool.end()
      }
    }
  }
}
