// The PostgreSQL bench's rows of processes appending together (the issue's "4 processes appending
// together at least 2 times one process"): the same count of events appended by 4 processes
// sharing them out against 1 alone, in the same runs; each process from 64 concurrent callers
// in one row, from one caller appending one event at a time (awaited) in the other
// (postgres-appender.ts). Each run opens a schema afresh and forks its processes before the clock
// starts (their start and open are not timed); the clock runs from `go` to the last `done`.
// Beside each, what raw PostgreSQL makes of the same design: gap-free positions handed out under
// the lock of a head row held to the commit, in transactions of 64 events (of one event, beside
// the awaited row), from 1 connection and from 4 at once (one process: the raw side's own work
// is small), to show how far more writers can go with commits serialised by that lock; beside
// the awaited row, also positions from a sequence, with no lock at all.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Shape } from './lib.js'
import type { Timing, Workload } from './measure.js'
import type { AppenderMessage } from './postgres-appender.js'
import { CALLERS, eventRows, eventsTable, type EventRow } from './postgres-lib.js'
import { open } from '../src/index.js'

const SCHEMA = 'annals_bench_processes'
const RAW_SCHEMA = 'annals_bench_gapfree'
const APPENDER = fileURLToPath(new URL('./postgres-appender.js', import.meta.url))

/** Waits for a message of `child` of the given type (rejects on `failed` or exit). */
async function heard (child: ChildProcess, type: 'ready' | 'done'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: AppenderMessage): void => {
      if (m.type === type) { off(); resolve() } else if (m.type === 'failed') { off(); reject(new Error(`an appender failed: ${m.error}`)) }
    }
    const onExit = (code: number | null): void => { off(); reject(new Error(`an appender exited with ${String(code)}`)) }
    const off = (): void => { child.off('message', onMessage); child.off('exit', onExit) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** `events` appended by `processes` processes at once, each from `callers` callers, on a schema made afresh. */
async function together (url: string, pool: pg.Pool, shape: Shape, processes: number, events: number, callers: number): Promise<Timing> {
  await pool.query(`drop schema if exists ${SCHEMA} cascade`)
  await (await open({ postgres: url, schema: SCHEMA })).close()
  const share = Math.ceil(events / processes)
  const children = Array.from({ length: processes }, (_, p) => fork(APPENDER,
    [url, SCHEMA, JSON.stringify(shape), String(p * share), String(Math.max(0, Math.min(share, events - p * share))), String(callers)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  try {
    await Promise.all(children.map(async c => { await heard(c, 'ready') }))
    const start = performance.now()
    const done = children.map(async c => { await heard(c, 'done') })
    for (const c of children) c.send('go')
    await Promise.all(done)
    const ms = performance.now() - start
    const [{ n }] = (await pool.query<{ n: string }>(`select count(*) as n from ${SCHEMA}.events`)).rows as [{ n: string }]
    if (Number(n) !== events) throw new Error(`${n} events stored where ${events} were appended`)
    return { events, ms }
  } finally {
    await Promise.all(children.map(async c => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise(resolve => c.once('exit', resolve))
      c.send('close')
      await exited
    }))
  }
}

/**
 * `rows` appended by `connections` connections of raw pg at once, in transactions of `size`
 * events taken in turn: each one statement in autocommit, the head row updated (its lock held to
 * the commit: positions gap-free, in commit order) and the rows inserted at the positions it
 * gave; or, with `sequence`, the rows inserted at positions from a sequence (no lock, no
 * gap-free order). On tables made afresh.
 */
async function rawTogether (pool: pg.Pool, rows: EventRow[], connections: number, size: number, sequence = false): Promise<Timing> {
  for (const statement of eventsTable(RAW_SCHEMA)) await pool.query(statement)
  const rowsOf = (group: EventRow[]): unknown[] => [group.map(r => r[1]), group.map(r => r[2]), group.map(r => r[3]), group.map(r => r[4])]
  let query: (group: EventRow[]) => pg.QueryConfig
  if (sequence) {
    await pool.query(`create sequence ${RAW_SCHEMA}.positions minvalue 0 start 0`)
    const text = `insert into ${RAW_SCHEMA}.events (position, stream, revision, type, data, time)
    select nextval('${RAW_SCHEMA}.positions'), e.s, e.r, e.t, e.d, clock_timestamp() from unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[]) as e(s, r, t, d)`
    query = group => ({ name: 'sequence', text, values: rowsOf(group) })
  } else {
    await pool.query(`create table ${RAW_SCHEMA}.head (one boolean primary key default true check (one), position bigint not null, time timestamptz not null)`)
    await pool.query(`insert into ${RAW_SCHEMA}.head values (true, -1, '-infinity')`)
    const text = `with h as (update ${RAW_SCHEMA}.head set position = position + $1, time = greatest(time, clock_timestamp()) returning position - $1 + 1 as first, time)
    insert into ${RAW_SCHEMA}.events (position, stream, revision, type, data, time)
    select h.first + e.o - 1, e.s, e.r, e.t, e.d, h.time from h, unnest($2::text[], $3::bigint[], $4::text[], $5::bytea[]) with ordinality as e(s, r, t, d, o)`
    query = group => ({ name: 'gapfree', text, values: [group.length, ...rowsOf(group)] })
  }
  const clients = await Promise.all(Array.from({ length: connections }, async () => await pool.connect()))
  try {
    let next = 0
    const start = performance.now()
    await Promise.all(clients.map(async c => {
      for (let from = next; from < rows.length; from = next) {
        next += size
        await c.query(query(rows.slice(from, from + size)))
      }
    }))
    const ms = performance.now() - start
    const [{ n }] = (await pool.query<{ n: string }>(`select count(*) as n from ${RAW_SCHEMA}.events`)).rows as [{ n: string }]
    if (Number(n) !== rows.length) throw new Error(`${n} rows stored where ${rows.length} were appended`)
    return { events: rows.length, ms }
  } finally {
    for (const c of clients) c.release()
  }
}

/**
 * The rows: `events` events appended from 64 callers a process, `awaited` events from one
 * caller a process, in each run; `close` drops their schemas.
 */
export function processesWorkloads (url: string, pool: pg.Pool, shape: Shape, events: number, awaited: number): { workloads: Workload[], close: () => Promise<void> } {
  const rows = eventRows(shape, Math.max(events, awaited))
  const one = rows.slice(0, awaited)
  return {
    workloads: [{
      name: `PostgreSQL: 4 processes appending together (${CALLERS} concurrent callers each)`,
      unit: 'events',
      raw: `annals, 1 process appending alone (${CALLERS} concurrent callers)`,
      target: 2,
      annals: async () => await together(url, pool, shape, 4, events, CALLERS),
      baseline: async () => await together(url, pool, shape, 1, events, CALLERS),
      also: [
        { raw: `raw pg, 1 connection: transactions of ${CALLERS}, gap-free positions under a head row's lock`, run: async () => await rawTogether(pool, rows.slice(0, events), 1, CALLERS) },
        { raw: 'raw pg, 4 connections at once: the same', run: async () => await rawTogether(pool, rows.slice(0, events), 4, CALLERS) }
      ]
    }, {
      name: 'PostgreSQL: 4 processes appending together (one awaited append at a time each)',
      unit: 'events',
      raw: 'annals, 1 process appending alone (one awaited append at a time)',
      target: 2,
      annals: async () => await together(url, pool, shape, 4, awaited, 1),
      baseline: async () => await together(url, pool, shape, 1, awaited, 1),
      also: [
        { raw: 'raw pg, 1 connection: a single-row transaction at a time, gap-free positions under a head row\'s lock', run: async () => await rawTogether(pool, one, 1, 1) },
        { raw: 'raw pg, 4 connections at once: the same', run: async () => await rawTogether(pool, one, 4, 1) },
        { raw: 'raw pg, 1 connection: a single-row transaction at a time, positions from a sequence (no lock)', run: async () => await rawTogether(pool, one, 1, 1, true) },
        { raw: 'raw pg, 4 connections at once: the same', run: async () => await rawTogether(pool, one, 4, 1, true) }
      ]
    }],
    close: async () => {
      await pool.query(`drop schema if exists ${SCHEMA} cascade`)
      await pool.query(`drop schema if exists ${RAW_SCHEMA} cascade`)
    }
  }
}
