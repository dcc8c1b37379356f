// What the PostgreSQL benchmarks share: the table the raw rows write (the columns an event has:
// position, stream, revision, type, msgpack data as bytea, commit time), the rows of the events
// of a shape, and the URL of the server to measure on.
import { readFileSync } from 'node:fs'
import { pack } from 'msgpackr'
import { eventMaker, type Shape } from './lib.js'

/** The raw events table in `schema`: positions as the primary key, one row per (stream, revision). */
export function eventsTable (schema: string): string[] {
  return [
    `drop schema if exists ${schema} cascade`,
    `create schema ${schema}`,
    `create table ${schema}.events (
      position bigint primary key,
      stream text not null,
      revision bigint not null,
      type text not null,
      data bytea not null,
      time timestamptz not null,
      unique (stream, revision)
    )`
  ]
}

/** Concurrent callers in each appending process of the processes row, as in the single-process group commit row. */
export const CALLERS = 64

/** The columns of an insert, in the order of {@link EventRow}. */
export const columns = ['position', 'stream', 'revision', 'type', 'data', 'time'] as const

/** One event as the raw rows write it: position, stream, revision, type, data (msgpack), time. */
export type EventRow = [number, string, number, string, Buffer, Date]

/**
 * The rows of events 0 to `count` - 1 of `shape`: positions in order, each stream's revisions
 * counting from 0. Made before timing, so that no workload's figure counts encoding.
 */
export function eventRows (shape: Shape, count: number): EventRow[] {
  const event = eventMaker(shape)
  const revisions = new Map<string, number>()
  const rows: EventRow[] = []
  const time = new Date()
  for (let i = 0; i < count; i++) {
    const e = event(i)
    const revision = revisions.get(e.stream) ?? 0
    revisions.set(e.stream, revision + 1)
    rows.push([i, e.stream, revision, e.type, pack(e.data), time])
  }
  return rows
}

/** `insert into <table> (columns) values ($1, …), (…)` for `n` rows. */
export function insertText (table: string, n: number): string {
  const width = columns.length
  const tuples = Array.from({ length: n }, (_, r) => `(${columns.map((_, c) => `$${r * width + c + 1}`).join(', ')})`)
  return `insert into ${table} (${columns.join(', ')}) values ${tuples.join(', ')}`
}

/** The server to measure on: `ANNALS_BENCH_POSTGRES`, a URL, or undefined when none is set. */
export function benchPostgresUrl (): string | undefined {
  const url = process.env.ANNALS_BENCH_POSTGRES
  return url === undefined || url === '' ? undefined : url
}

/** The version of an installed package, for the record of a run. */
export function packageVersion (name: string): string {
  return (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version
}
