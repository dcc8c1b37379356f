// The PostgreSQL bench's row of processes appending together (the issue's "4 processes appending
// together at least 2 times one process"): the same count of events appended, each process from
// 64 concurrent callers (postgres-appender.ts), by 4 processes sharing them out against 1 alone,
// in the same runs. Each run opens a schema afresh and forks its processes before the clock
// starts (their start and open are not timed); the clock runs from `go` to the last `done`.
// Beside it, what raw PostgreSQL makes of the same design: gap-free positions handed out under
// the lock of a head row held to the commit, in transactions of 64 events, from 1 connection and
// from 4 at once (one process: the raw side's own work is small), to show how far more writers
// can go with commits serialised by that lock.
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

/** `events` appended by `processes` processes at once, on a schema made afresh. */
async function together (url: string, pool: pg.Pool, shape: Shape, processes: number, events: number): Promise<Timing> {
  await pool.query(`drop schema if exists ${SCHEMA} cascade`)
  await (await open({ postgres: url, schema: SCHEMA })).close()
  const share = Math.ceil(events / processes)
  const children = Array.from({ length: processes }, (_, p) => fork(APPENDER,
    [url, SCHEMA, JSON.stringify(shape), String(p * share), String(Math.max(0, Math.min(share, events - p * share)))],
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
 * `rows` appended by `connections` connections of raw pg at once, in transactions of
 * {@link CALLERS} events taken in turn: each one statement in autocommit, the head row updated
 * (its lock held to the commit: positions gap-free, in commit order) and the rows inserted at
 * the positions it gave. On tables made afresh.
 */
async function rawTogether (pool: pg.Pool, rows: EventRow[], connections: number): Promise<Timing> {
  for (const statement of eventsTable(RAW_SCHEMA)) await pool.query(statement)
  await pool.query(`create table ${RAW_SCHEMA}.head (one boolean primary key default true check (one), position bigint not null, time timestamptz not null)`)
  await pool.query(`insert into ${RAW_SCHEMA}.head values (true, -1, '-infinity')`)
  const text = `with h as (update ${RAW_SCHEMA}.head set position = position + $1, time = greatest(time, clock_timestamp()) returning position - $1 + 1 as first, time)
    insert into ${RAW_SCHEMA}.events (position, stream, revision, type, data, time)
    select h.first + e.o - 1, e.s, e.r, e.t, e.d, h.time from h, unnest($2::text[], $3::bigint[], $4::text[], $5::bytea[]) with ordinality as e(s, r, t, d, o)`
  const clients = await Promise.all(Array.from({ length: connections }, async () => await pool.connect()))
  try {
    let next = 0
    const start = performance.now()
    await Promise.all(clients.map(async c => {
      for (let from = next; from < rows.length; from = next) {
        next += CALLERS
        const group = rows.slice(from, from + CALLERS)
        await c.query({ name: 'gapfree', text, values: [group.length, group.map(r => r[1]), group.map(r => r[2]), group.map(r => r[3]), group.map(r => r[4])] })
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

/** The row, appending `events` events in each run; `close` drops its schemas. */
export function processesWorkload (url: string, pool: pg.Pool, shape: Shape, events: number): { workload: Workload, close: () => Promise<void> } {
  const rows = eventRows(shape, events)
  return {
    workload: {
      name: 'PostgreSQL: 4 processes appending together (64 concurrent callers each)',
      unit: 'events',
      raw: 'annals, 1 process appending alone (64 concurrent callers)',
      target: 2,
      annals: async () => await together(url, pool, shape, 4, events),
      baseline: async () => await together(url, pool, shape, 1, events),
      also: [
        { raw: `raw pg, 1 connection: transactions of ${CALLERS}, gap-free positions under a head row's lock`, run: async () => await rawTogether(pool, rows, 1) },
        { raw: `raw pg, 4 connections at once: the same`, run: async () => await rawTogether(pool, rows, 4) }
      ]
    },
    close: async () => {
      await pool.query(`drop schema if exists ${SCHEMA} cascade`)
      await pool.query(`drop schema if exists ${RAW_SCHEMA} cascade`)
    }
  }
}
