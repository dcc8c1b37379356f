// PostgreSQL rows of `npm run bench`, run when ANNALS_BENCH_POSTGRES names a server (a URL; the
// user must be allowed to create a schema): raw node-postgres doing the I/O the PostgreSQL
// backend does, the reference its figures are compared with in the same run. The events are those
// of the other areas (msgpack data as bytea), in a schema of their own, dropped at the end.
//
// The annals side comes with the backend: each raw row below is then the `baseline` of a
// workload whose `annals` side does the same on `open({ postgres: url })`, with the issue's
// targets: awaited single appends ≥ 0.7 of the single-row transactions; appends of 64
// concurrent callers ≥ 0.6 of the 100-row inserts; a replay (readAll) ≥ 0.7 of the streamed
// select; and, on annals alone, 4 processes appending together ≥ 2 times one process.
import pg from 'pg'
import Cursor from 'pg-cursor'
import { unpack } from 'msgpackr'
import type { Config, Mode } from './options.js'
import { timed } from './lib.js'
import type { Timing, Workload } from './measure.js'
import { eventRows, eventsTable, insertText, type EventRow } from './postgres-lib.js'

const SCHEMA = 'annals_bench_raw'
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

  return {
    workloads: [
      {
        name: 'PostgreSQL raw: single-row INSERT per transaction, awaited',
        unit: 'events',
        annals: writes(awaited, async client => {
          for (let i = 0; i < awaited; i++) await transaction(client, async () => await client.query({ name: 'insert1', text: insert1, values: rows[i] }))
        })
      },
      {
        name: 'PostgreSQL raw: multi-row INSERT of 100 per transaction',
        unit: 'events',
        annals: writes(appends, async client => {
          for (const batch of hundreds(0, appends)) {
            const query = batch.length === 100 ? { name: 'insert100', text: insert100 } : { text: insertText(TABLE, batch.length) }
            await transaction(client, async () => await client.query({ ...query, values: batch.flat() }))
          }
        })
      },
      {
        name: `PostgreSQL raw: streamed SELECT ORDER BY position (${select.toLocaleString('en-US')} rows, decoded)`,
        unit: 'events',
        annals: streamedSelect
      }
    ],
    close: async () => {
      try {
        await pool.query(`drop schema if exists ${SCHEMA} cascade`)
      } finally {
        await pool.end()
      }
    }
  }
}
