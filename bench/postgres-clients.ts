// Which PostgreSQL client for annals: node-postgres (`pg`, streaming with `pg-cursor` or
// `pg-query-stream`) against porsager's `postgres` (postgres.js), on the workloads of the
// PostgreSQL backend, in one run on one server. Run by hand, not by `npm run bench`:
//
//   npm run build && ANNALS_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres \
//     node dist/bench/postgres-clients.js [--runs 5] [--quick] [--async-commit]
//
// --async-commit sets synchronous_commit off for the sessions: commits no longer wait for the
// WAL to reach the disk, so that what the clients themselves cost shows.
// Each workload runs on each client in turn, the order rotating from run to run; the figure is
// the median rate of the runs (and the lowest and highest), and the median CPU time the Node
// process spent per event (user + system: what the client itself costs, which the load of other
// processes on the machine disturbs far less than the rate). Writes go to a schema of their own,
// `bench_clients`, dropped at the end.
import { parseArgs } from 'node:util'
import pg from 'pg'
import Cursor from 'pg-cursor'
import QueryStream from 'pg-query-stream'
import postgres from 'postgres'
import { concurrently, defaultShape, median } from './lib.js'
import { benchPostgresUrl, columns, packageVersion, eventRows, eventsTable, insertText, type EventRow } from './postgres-lib.js'

const SCHEMA = 'bench_clients'
const TABLE = `${SCHEMA}.events`
const POOL = 10

interface Sizes { single: number, hundreds: number, select: number, concurrent: number }

type Run = () => Promise<void>
interface Workload { name: string, events: number, before?: () => Promise<void>, clients: Record<string, Run> }

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, quick: { type: 'boolean', default: false }, 'async-commit': { type: 'boolean', default: false } } })
  const url = benchPostgresUrl()
  if (url === undefined) throw new Error('set ANNALS_BENCH_POSTGRES to the URL of a PostgreSQL server to measure on')
  const runs = Number(values.runs)
  const sizes: Sizes = values.quick
    ? { single: 500, hundreds: 10_000, select: 20_000, concurrent: 2000 }
    : { single: 2000, hundreds: 50_000, select: 100_000, concurrent: 10_000 }
  const rows = eventRows(defaultShape, Math.max(sizes.single, sizes.hundreds, sizes.select, sizes.concurrent))

  const asyncCommit = values['async-commit']
  const pool = new pg.Pool({ connectionString: url, max: POOL, ...asyncCommit ? { options: '-c synchronous_commit=off' } : {} })
  const sql = postgres(url, { max: POOL, onnotice: () => {}, ...asyncCommit ? { connection: { synchronous_commit: 'off' } } : {} })
  try {
    for (const statement of eventsTable(SCHEMA)) await pool.query(statement)
    const truncate = async (): Promise<void> => { await pool.query(`truncate ${TABLE}`) }
    const fill = async (): Promise<void> => {
      await truncate()
      for (let i = 0; i < sizes.select; i += 100) await pool.query(insertText(TABLE, 100), rows.slice(i, i + 100).flat())
      await pool.query(`vacuum analyze ${TABLE}`)
    }
    const workloads = clientWorkloads(pool, sql, rows, sizes)
    const setting = async (): Promise<string> => {
      const q = 'select current_setting(\'synchronous_commit\') as s'
      const [a, b] = [(await pool.query<{ s: string }>(q)).rows[0]!.s, (await sql.unsafe<Array<{ s: string }>>(q))[0]!.s]
      if (a !== b) throw new Error(`synchronous_commit is ${a} on pg, ${b} on postgres.js`)
      return a
    }
    const server = (await pool.query<{ v: string }>('select version() as v')).rows[0]!.v
    console.log(`${server}\nNode ${process.version}; pg ${packageVersion('pg')}, pg-cursor ${packageVersion('pg-cursor')}, pg-query-stream ${packageVersion('pg-query-stream')}, postgres ${packageVersion('postgres')}; pool of ${POOL}; ${runs} runs; synchronous_commit ${await setting()}\n`)
    for (const w of workloads) {
      if (w.name.startsWith('streamed')) await fill()
      const rates: Record<string, number[]> = Object.fromEntries(Object.keys(w.clients).map(c => [c, []]))
      const cpus: Record<string, number[]> = Object.fromEntries(Object.keys(w.clients).map(c => [c, []]))
      const names = Object.keys(w.clients)
      for (let run = 0; run < runs + 1; run++) {
        for (let k = 0; k < names.length; k++) {
          const name = names[(run + k) % names.length]!
          if (!w.name.startsWith('streamed')) await truncate()
          const start = performance.now()
          const cpu = process.cpuUsage()
          await w.clients[name]!()
          const ms = performance.now() - start
          const { user, system } = process.cpuUsage(cpu)
          if (run > 0) { // the first round warms up
            rates[name]!.push(w.events / ms * 1000)
            cpus[name]!.push((user + system) / w.events)
          }
        }
      }
      console.log(`${w.name} (${w.events.toLocaleString('en-US')} events)`)
      for (const name of names) {
        const r = rates[name]!
        console.log(`  ${name.padEnd(40)} ${fmt(median(r)).padStart(9)} ev/s (${fmt(Math.min(...r))}–${fmt(Math.max(...r))}); ` +
          `client CPU ${median(cpus[name]!).toFixed(1)} µs/event (${Math.min(...cpus[name]!).toFixed(1)}–${Math.max(...cpus[name]!).toFixed(1)})`)
      }
    }
  } finally {
    await pool.query(`drop schema if exists ${SCHEMA} cascade`)
    await pool.end()
    await sql.end()
  }
}

/** Each workload on each client: the same SQL, the same rows, each client's own way of sending them. */
function clientWorkloads (pool: pg.Pool, sql: postgres.Sql, rows: EventRow[], sizes: Sizes): Workload[] {
  const insert1 = insertText(TABLE, 1)
  const insert100 = insertText(TABLE, 100)
  const select = `select position, stream, revision, type, data, time from ${TABLE} order by position`
  // postgres.js's sql(rows, columns) takes objects: made once, before timing
  const objects = rows.slice(0, sizes.hundreds).map(r => Object.fromEntries(columns.map((c, i) => [c, r[i]])))
  const check = (n: number, expected: number): void => { if (n !== expected) throw new Error(`read ${n} rows where ${expected} were expected`) }

  /** BEGIN, one insert, COMMIT on a pg client; `name` makes it a prepared statement. */
  const pgTransaction = async (client: pg.PoolClient, text: string, values: unknown[], name?: string): Promise<void> => {
    await client.query('begin')
    await client.query(name === undefined ? { text, values } : { name, text, values })
    await client.query('commit')
  }
  const onPgClient = (body: (client: pg.PoolClient) => Promise<void>) => async (): Promise<void> => {
    const client = await pool.connect()
    try { await body(client) } finally { client.release() }
  }
  const pgRead = (n: number, body: (client: pg.PoolClient) => Promise<number>) => onPgClient(async client => { check(await body(client), n) })

  return [
    {
      name: 'single-row INSERT per transaction, awaited',
      events: sizes.single,
      clients: {
        'pg (prepared)': onPgClient(async c => { for (let i = 0; i < sizes.single; i++) await pgTransaction(c, insert1, rows[i]!, 'insert1') }),
        'pg (unnamed statement)': onPgClient(async c => { for (let i = 0; i < sizes.single; i++) await pgTransaction(c, insert1, rows[i]!) }),
        'postgres.js (sql.begin)': async () => {
          for (let i = 0; i < sizes.single; i++) {
            const [position, stream, revision, type, data, time] = rows[i]!
            await sql.begin(async tx => {
              await tx`insert into bench_clients.events (position, stream, revision, type, data, time) values (${position}, ${stream}, ${revision}, ${type}, ${data}, ${time})`
            })
          }
        }
      }
    },
    {
      name: 'multi-row INSERT of 100 per transaction',
      events: sizes.hundreds,
      clients: {
        'pg (prepared)': onPgClient(async c => {
          for (let i = 0; i < sizes.hundreds; i += 100) await pgTransaction(c, insert100, rows.slice(i, i + 100).flat(), 'insert100')
        }),
        'postgres.js (sql.begin, sql(rows))': async () => {
          for (let i = 0; i < sizes.hundreds; i += 100) {
            const batch = objects.slice(i, i + 100)
            await sql.begin(async tx => { await tx`insert into bench_clients.events ${tx(batch, columns as unknown as string[])}` })
          }
        },
        'postgres.js (sql.begin, unsafe prepared)': async () => {
          for (let i = 0; i < sizes.hundreds; i += 100) {
            const values = rows.slice(i, i + 100).flat()
            await sql.begin(async tx => { await tx.unsafe(insert100, values as never[], { prepare: true }) })
          }
        }
      }
    },
    {
      name: '64 concurrent single-row transactions, pool of 10',
      events: sizes.concurrent,
      clients: {
        'pg (pool.connect, prepared)': async () => {
          await concurrently(sizes.concurrent, 64, async i => { await onPgClient(async c => { await pgTransaction(c, insert1, rows[i]!, 'insert1') })() })
        },
        'postgres.js (sql.begin)': async () => {
          await concurrently(sizes.concurrent, 64, async i => {
            const [position, stream, revision, type, data, time] = rows[i]!
            await sql.begin(async tx => {
              await tx`insert into bench_clients.events (position, stream, revision, type, data, time) values (${position}, ${stream}, ${revision}, ${type}, ${data}, ${time})`
            })
          })
        }
      }
    },
    {
      name: 'streamed SELECT ORDER BY position',
      events: sizes.select,
      clients: {
        'pg + pg-cursor (read 1000)': pgRead(sizes.select, async c => {
          const cursor = c.query(new Cursor(select))
          let n = 0
          try {
            for (let batch = await cursor.read(1000); batch.length > 0; batch = await cursor.read(1000)) {
              for (const row of batch) if (Number(row.position) >= 0 && row.data.length > 0) n++
            }
          } finally { await cursor.close() }
          return n
        }),
        'pg + pg-query-stream (batch 1000)': pgRead(sizes.select, async c => {
          let n = 0
          for await (const row of c.query(new QueryStream(select, [], { batchSize: 1000 }))) {
            if (Number(row.position) >= 0 && row.data.length > 0) n++
          }
          return n
        }),
        'postgres.js (cursor 1000)': async () => {
          let n = 0
          for await (const batch of sql.unsafe(select).cursor(1000)) {
            for (const row of batch) if (Number(row.position) >= 0 && row.data.length > 0) n++
          }
          check(n, sizes.select)
        }
      }
    }
  ]
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

await main()
