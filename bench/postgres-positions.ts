// Gap-free positions with many writers on PostgreSQL: two designs, checked and measured. Run by
// hand, not by `npm run bench`:
//
//   npm run build && ANNALS_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres \
//     node dist/bench/postgres-positions.js [--check-seconds 10] [--seconds 2] [--runs 3]
//
// (a) `lock`: positions taken from a one-row `head` table, `update head set position = position
//     + n returning …`, whose row lock is held to the commit: commits are in position order, no
//     gaps (a rollback gives its positions back), commit times never decrease. Commits are
//     serialised, the WAL flush of each included.
// (b) `sequence`: positions from a sequence, no lock: commits in any order, a rollback leaves a
//     hole. A reader must not pass a hole that a running transaction may still fill. Writers take
//     their transaction id (`pg_current_xact_id()`) before their sequence values, so whoever holds
//     a hole's positions has an id lower than one the reader takes when it sees the hole; the
//     reader steps over the hole once `pg_snapshot_xmin(pg_current_snapshot())` is past that id
//     (every transaction up to it has ended). The `pg_snapshot_xmax` of the snapshot that showed
//     the hole is not a safe bound: it is one past the last transaction to have ended, and a
//     running one's id can be above it (a first version of this script lost events that way).
//
// First a check of each design: writers of random transactions (some held open, some rolled
// back), one transaction held open for a second while the others go on, a reader following the
// log all along, and a naive reader (`position > last order by position`) beside it. Then the
// throughput of each, with 1, 4 and 16 writer connections doing transactions of 1 and of 64
// events, each as 4 round trips (begin, positions, insert, commit) and as one (a single statement
// for the lock, or a function that queues on an advisory lock first; a function for the sequence). Everything goes in a schema of its own, dropped at
// the end.
import { parseArgs } from 'node:util'
import pg from 'pg'
import { defaultShape, median } from './lib.js'
import { benchPostgresUrl, eventRows, packageVersion } from './postgres-lib.js'

const S = 'bench_positions'

const setup = [
  `drop schema if exists ${S} cascade`,
  `create schema ${S}`,
  `create table ${S}.events (
    position bigint primary key, stream text not null, revision bigint not null, type text not null,
    data bytea not null, time timestamptz not null, tx xid8 not null default pg_current_xact_id(),
    unique (stream, revision))`,
  `create table ${S}.head (one boolean primary key default true check (one), position bigint not null, time timestamptz not null)`,
  `insert into ${S}.head values (true, -1, '-infinity')`,
  `create sequence ${S}.positions minvalue 0 start 0`,
  // (a) in one round trip, queueing on an advisory lock (a plain lock queue) before the row's update
  `create function ${S}.append_lock (n bigint, streams text[], revisions bigint[], types text[], datas bytea[]) returns bigint language plpgsql as $$
   declare first bigint; at timestamptz;
   begin
     perform pg_advisory_xact_lock(4242);
     update ${S}.head set position = position + n, time = greatest(time, clock_timestamp()) returning position - n + 1, time into first, at;
     insert into ${S}.events (position, stream, revision, type, data, time)
       select first + e.o - 1, e.s, e.r, e.t, e.d, at from unnest(streams, revisions, types, datas) with ordinality as e(s, r, t, d, o);
     return first + n - 1;
   end $$`,
  // (b) in one round trip: the transaction id first, then the sequence values
  `create function ${S}.append_seq (streams text[], revisions bigint[], types text[], datas bytea[]) returns bigint language plpgsql as $$
   begin
     perform pg_current_xact_id();
     insert into ${S}.events (position, stream, revision, type, data, time)
       select nextval('${S}.positions'), e.s, e.r, e.t, e.d, clock_timestamp()
       from unnest(streams, revisions, types, datas) with ordinality as e(s, r, t, d, o) order by e.o;
     return currval('${S}.positions');
   end $$`
]

const unnested = 'unnest($2::text[], $3::bigint[], $4::text[], $5::bytea[]) with ordinality as e(s, r, t, d, o)'
const sql = {
  // (a) in 4 round trips: begin; take positions; insert; commit
  take: `update ${S}.head set position = position + $1, time = greatest(time, clock_timestamp()) returning position - $1 + 1 as first, time`,
  insertAt: `insert into ${S}.events (position, stream, revision, type, data, time)
    select $1::bigint + e.o - 1, e.s, e.r, e.t, e.d, $6 from unnest($2::text[], $3::bigint[], $4::text[], $5::bytea[]) with ordinality as e(s, r, t, d, o)`,
  // (a) in one statement (autocommit: the row lock is held to the end of its commit)
  lockOne: `with h as (update ${S}.head set position = position + $1, time = greatest(time, clock_timestamp()) returning position - $1 + 1 as first, time)
    insert into ${S}.events (position, stream, revision, type, data, time)
    select h.first + e.o - 1, e.s, e.r, e.t, e.d, h.time from h, ${unnested} returning position`,
  // (b) in 4 round trips: begin; transaction id; insert with sequence values; commit
  xid: 'select pg_current_xact_id()',
  insertSeq: `insert into ${S}.events (position, stream, revision, type, data, time)
    select nextval('${S}.positions'), e.s, e.r, e.t, e.d, clock_timestamp()
    from unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[]) with ordinality as e(s, r, t, d, o) order by e.o`,
  seqOne: `select ${S}.append_seq($1, $2, $3, $4)`,
  lockFn: `select ${S}.append_lock($1, $2, $3, $4, $5)`
}

type Design = 'lock' | 'sequence'
type Way = 'lock, 4 round trips' | 'lock, 1 statement' | 'advisory lock, 1 function call' | 'sequence, 4 round trips' | 'sequence, 1 function call'
const ways: Array<{ way: Way, design: Design }> = [
  { way: 'lock, 4 round trips', design: 'lock' },
  { way: 'lock, 1 statement', design: 'lock' },
  { way: 'advisory lock, 1 function call', design: 'lock' },
  { way: 'sequence, 4 round trips', design: 'sequence' },
  { way: 'sequence, 1 function call', design: 'sequence' }
]

/** The columns of `n` events of writer `w`, its revisions counting on from `from`. */
function batch (w: number, from: number, n: number, data: Buffer[]): unknown[] {
  const streams: string[] = []
  const revisions: number[] = []
  const types: string[] = []
  const datas: Buffer[] = []
  for (let i = 0; i < n; i++) {
    streams.push(`writer-${w}`)
    revisions.push(from + i)
    types.push('PhotoAdded')
    datas.push(data[(from + i) % data.length]!)
  }
  return [streams, revisions, types, datas]
}

/** How an append of the check dawdles: ms before it takes its positions, ms after it inserted its rows; whether it rolls back. */
interface Dawdle { before?: number, after?: number, rollback?: boolean, whileOpen?: () => Promise<void> }

/**
 * One append of `n` events in `way`. `dawdle.after` is the window in which a reader could pass
 * positions taken and not yet committed; `dawdle.before` the time a transaction spends on other
 * work (reads, checks) before it takes positions.
 */
async function append (c: pg.ClientBase, way: Way, cols: unknown[], n: number, dawdle: Dawdle = {}): Promise<void> {
  const plain = dawdle.before === undefined && dawdle.after === undefined && dawdle.rollback !== true && dawdle.whileOpen === undefined
  if (way === 'lock, 1 statement' && plain) {
    await c.query({ name: 'lockOne', text: sql.lockOne, values: [n, ...cols] })
    return
  }
  if (way === 'advisory lock, 1 function call' && plain) {
    await c.query({ name: 'lockFn', text: sql.lockFn, values: [n, ...cols] })
    return
  }
  if (way === 'sequence, 1 function call' && plain) {
    await c.query({ name: 'seqOne', text: sql.seqOne, values: cols })
    return
  }
  await c.query('begin')
  try {
    if (dawdle.before !== undefined) await sleep(dawdle.before)
    if (way.includes('lock')) {
      const { rows: [h] } = await c.query<{ first: string, time: Date }>({ name: 'take', text: sql.take, values: [n] })
      await c.query({ name: 'insertAt', text: sql.insertAt, values: [h!.first, ...cols, h!.time] })
    } else {
      await c.query({ name: 'xid', text: sql.xid })
      await c.query({ name: 'insertSeq', text: sql.insertSeq, values: cols })
    }
    if (dawdle.after !== undefined) await sleep(dawdle.after)
    await dawdle.whileOpen?.()
  } catch (err) {
    await c.query('rollback')
    throw err
  }
  await c.query(dawdle.rollback === true ? 'rollback' : 'commit')
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/**
 * A reader following the log from position 0, as a subscription would: reads what follows its
 * last position, and for the sequence design waits at holes as the file's head says. Returns
 * the positions it delivered, in order.
 */
function follower (pool: pg.Pool, design: Design, naive: boolean): { stop: () => Promise<number[]> } {
  const delivered: number[] = []
  let running = true
  let hole: { at: number, after: bigint } | undefined
  const loop = (async () => {
    const c = await pool.connect()
    try {
      let last = -1
      // after the writers ended: reads on until nothing follows the last position delivered
      for (let done = false; !done; await sleep(2)) {
        const ending = !running
        const { rows } = await c.query<{ position: string | null, xmin: string }>({
          name: 'follow',
          text: `select e.position, pg_snapshot_xmin(s.s)::text as xmin
                 from (select pg_current_snapshot() as s) s left join lateral
                 (select position from ${S}.events where position > $1 order by position limit 1000) e on true`,
          values: [last]
        })
        done = ending && rows[0]!.position === null
        for (const row of rows) {
          if (row.position === null) break
          const p = Number(row.position)
          if (!naive && design === 'sequence' && p !== last + 1) {
            // A hole at last + 1. Whoever holds its positions took a transaction id before them,
            // so before this read: step over the hole once every transaction id up to one taken
            // now has ended (the snapshot's xmax would not do: it is one past the last id to
            // have *ended*, and a running transaction's id may be past it).
            if (hole?.at !== last + 1) {
              const { rows: [x] } = await c.query<{ x: string }>('select pg_current_xact_id()::text as x')
              hole = { at: last + 1, after: BigInt(x!.x) }
            }
            if (BigInt(row.xmin) <= hole.after) break
          }
          delivered.push(p)
          last = p
        }
      }
    } finally { c.release() }
  })()
  return { stop: async () => { running = false; await loop; return delivered } }
}

async function reset (pool: pg.Pool): Promise<void> {
  await pool.query(`truncate ${S}.events`)
  await pool.query(`update ${S}.head set position = -1, time = '-infinity'`)
  await pool.query(`alter sequence ${S}.positions restart`)
}

/**
 * Checks a design: 8 writers of random transactions (1 to 64 events; a tenth dawdle up to 20 ms
 * after taking positions, a twentieth roll back) and one transaction held open for a second
 * while the others go on: with the lock, held before it takes positions (it has none yet, so
 * the others commit meanwhile); with the sequence, after (it has positions, the others commit
 * later ones meanwhile). A reader follows the log all along: it must deliver every committed
 * position once, in order. A naive reader (`position > last order by position`) runs beside it.
 */
async function check (pool: pg.Pool, design: Design, seconds: number, data: Buffer[]): Promise<string> {
  await reset(pool)
  const reader = follower(pool, design, false)
  const naive = follower(pool, design, true)
  const way: Way = design === 'lock' ? 'lock, 4 round trips' : 'sequence, 4 round trips'
  const writers = 8
  const end = Date.now() + seconds * 1000
  let rolledBack = 0
  let committed = 0
  let whileHeld = 0
  const revisions = Array.from({ length: writers }, () => 0)
  const held = (async () => {
    await sleep(seconds * 1000 / 3)
    const c = await pool.connect()
    try {
      const countNow = async (): Promise<number> => Number((await pool.query<{ n: string }>(`select count(*) as n from ${S}.events`)).rows[0]!.n)
      const atStart = await countNow()
      const dawdle = design === 'lock' ? { before: 1000 } : { after: 1000 }
      await append(c, way, batch(writers, 0, 10, data), 10, { ...dawdle, whileOpen: async () => { whileHeld = await countNow() - atStart } })
      committed += 10
    } finally { c.release() }
  })()
  await Promise.all([held, ...Array.from({ length: writers }, async (_, w) => {
    const c = await pool.connect()
    try {
      while (Date.now() < end) {
        const n = 1 + Math.floor(Math.random() * 64)
        const rollback = Math.random() < 0.05
        await append(c, way, batch(w, revisions[w]!, n, data), n, { rollback, ...Math.random() < 0.1 ? { after: 1 + Math.random() * 20 } : {} })
        if (rollback) rolledBack++
        else { revisions[w]! += n; committed += n }
      }
    } finally { c.release() }
  })])
  const got = await reader.stop()
  const gotNaive = await naive.stop()
  const stored = (await pool.query<{ position: string }>(`select position from ${S}.events order by position`)).rows.map(r => Number(r.position))
  const { rows: [t] } = await pool.query<{ back: string }>(`select count(*) as back from (select time < lag(time) over (order by position) as back from ${S}.events) x where back`)
  const holes = stored.length === 0 ? 0 : stored[stored.length - 1]! + 1 - stored.length
  const exact = got.length === stored.length && got.every((p, i) => p === stored[i])
  const missedNaive = stored.length - new Set(gotNaive).size
  if (stored.length !== committed) throw new Error(`${committed} events committed, ${stored.length} stored`)
  return `${design}: ${fmt(committed)} events committed by ${writers} writers in ${seconds} s, ${rolledBack} transactions rolled back; ` +
    `others committed ${fmt(whileHeld)} events while one was held open 1 s ${design === 'lock' ? 'before taking its positions' : 'after taking its positions'}; ` +
    `holes in positions: ${holes}; commit times going back with position: ${t!.back}; ` +
    `the reader delivered ${exact ? 'every event stored, once, in order' : `${fmt(got.length)} events, NOT the ${fmt(stored.length)} stored`}; ` +
    `a naive reader (position > last) missed ${fmt(missedNaive)}`
}

/** Events per second of `way` with `writers` connections appending `n` events per transaction for `seconds`. */
async function throughput (pool: pg.Pool, way: Way, writers: number, n: number, seconds: number, data: Buffer[]): Promise<number> {
  await reset(pool)
  const clients = await Promise.all(Array.from({ length: writers }, async () => await pool.connect()))
  let events = 0
  try {
    const start = performance.now()
    const end = start + seconds * 1000
    await Promise.all(clients.map(async (c, w) => {
      let revision = 0
      while (performance.now() < end) {
        await append(c, way, batch(w, revision, n, data), n)
        revision += n
        events += n
      }
    }))
    return events / (performance.now() - start) * 1000
  } finally {
    for (const c of clients) c.release()
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { 'check-seconds': { type: 'string', default: '10' }, seconds: { type: 'string', default: '2' }, runs: { type: 'string', default: '3' }, 'check-only': { type: 'boolean', default: false } } })
  const url = benchPostgresUrl()
  if (url === undefined) throw new Error('set ANNALS_BENCH_POSTGRES to the URL of a PostgreSQL server to measure on')
  const pool = new pg.Pool({ connectionString: url, max: 24 })
  const data = eventRows(defaultShape, 1000).map(r => r[4])
  try {
    for (const statement of setup) await pool.query(statement)
    const { rows: [v] } = await pool.query<{ v: string }>('select version() as v')
    console.log(`${v!.v}\nNode ${process.version}, pg ${packageVersion('pg')}\n`)
    for (const design of ['lock', 'sequence'] as const) console.log(await check(pool, design, Number(values['check-seconds']), data))
    if (values['check-only']) return
    const seconds = Number(values.seconds)
    const runs = Number(values.runs)
    console.log(`\nthroughput, events/s: median of ${runs} runs of ${seconds} s (lowest–highest)\n`)
    const cells: string[][] = []
    for (const n of [1, 64]) {
      for (const writers of [1, 4, 16]) {
        const row = [`${n} per transaction, ${writers} writer${writers > 1 ? 's' : ''}`]
        const rates: Record<string, number[]> = {}
        for (let run = 0; run < runs; run++) {
          for (let k = 0; k < ways.length; k++) {
            const { way } = ways[(run + k) % ways.length]!
            ;(rates[way] ??= []).push(await throughput(pool, way, writers, n, seconds, data))
          }
        }
        for (const { way } of ways) {
          const r = rates[way]!
          row.push(`${fmt(median(r))} (${fmt(Math.min(...r))}–${fmt(Math.max(...r))})`)
        }
        cells.push(row)
        console.log(`${row[0]!.padEnd(32)} ${row.slice(1).map((c, i) => `${ways[i]!.way}: ${c}`).join(';  ')}`)
      }
    }
    console.log(`\n| transactions | ${ways.map(w => w.way).join(' | ')} |\n| --- | ${ways.map(() => '---:').join(' | ')} |`)
    for (const row of cells) console.log(`| ${row.join(' | ')} |`)
  } finally {
    await pool.query(`drop schema if exists ${S} cascade`)
    await pool.end()
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

await main()
