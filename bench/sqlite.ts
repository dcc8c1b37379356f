// The raw SQLite reference of the read workloads: an `events` table (position, stream, revision,
// type, time, and data as JSON) with an index on (stream, revision), in WAL mode, written and read
// with better-sqlite3. Each read builds an object like a RecordedEvent per row, its data parsed
// with JSON.parse, as a SQLite-backed event store would hand it over. better-sqlite3 is a dev
// dependency: where it is not installed (`annals bench` in an application), there is no SQLite
// row.
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { BENCH_DIR, freshDir, timedRead, type SampleEvent } from './lib.js'
import type { Timing } from './measure.js'

type Driver = typeof BetterSqlite3
type Database = BetterSqlite3.Database

/** Rows per query: the pages a replay and a stream read go by. */
const PAGE = 1000
const COLUMNS = 'position, stream, revision, type, time, data'

const require = createRequire(import.meta.url)
let driver: Driver | null | undefined

/** better-sqlite3, or null where it is not installed or its native part does not load. */
export function sqlite (): Driver | null {
  if (driver === undefined) {
    try {
      driver = require('better-sqlite3') as Driver
      new driver(':memory:').close()
    } catch {
      driver = null
    }
  }
  return driver
}

/** better-sqlite3's version and the version of SQLite it is built with, for the record; null without it. */
export function sqliteVersion (): string | null {
  const Sqlite = sqlite()
  if (Sqlite === null) return null
  const db = new Sqlite(':memory:')
  try {
    const { version } = require('better-sqlite3/package.json') as { version: string }
    return `${version} (SQLite ${db.prepare('SELECT sqlite_version()').pluck().get() as string})`
  } finally { db.close() }
}

/** Writes events to a fresh table, positions from 0 and revisions counted per stream. */
export interface SqliteWriter {
  /** one transaction */
  write: (events: SampleEvent[]) => void
  close: () => void
}

/** A fresh SQLite database in BENCH_DIR/`name`, or null without better-sqlite3. */
export function sqliteLog (name: string): SqliteWriter | null {
  const Sqlite = sqlite()
  if (Sqlite === null) return null
  const dir = freshDir(name)
  mkdirSync(dir)
  const db = new Sqlite(join(dir, 'events.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, type TEXT NOT NULL, time INTEGER NOT NULL, data TEXT NOT NULL);' +
    'CREATE UNIQUE INDEX events_stream_revision ON events (stream, revision)')
  const insert = db.prepare(`INSERT INTO events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`)
  const revisions = new Map<string, number>()
  let position = 0
  const write = db.transaction((events: SampleEvent[]) => {
    const time = Date.now()
    for (const e of events) {
      const revision = revisions.get(e.stream) ?? 0
      revisions.set(e.stream, revision + 1)
      insert.run(position++, e.stream, revision, e.type, time, JSON.stringify(e.data))
    }
  })
  return { write: events => { write(events) }, close: () => { db.close() } }
}

/** The reads of the SQLite side; each says how many events it read. */
export interface SqliteReads {
  /** the whole log, in pages of 1,000 rows by position */
  replay: () => number
  /** one stream, in pages of 1,000 rows by the (stream, revision) index */
  stream: (name: string) => number
}

// a row as better-sqlite3 hands it in raw mode: the columns in order
type Row = [number, string, number, string, number, string]

function reads (db: Database): SqliteReads {
  const byPosition = db.prepare<[number], Row>(`SELECT ${COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ${PAGE}`).raw(true)
  const byStream = db.prepare<[string, number], Row>(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision > ? ORDER BY revision LIMIT ${PAGE}`).raw(true)
  /** Reads page after page, each after the last row's column `at`, until a page is short. */
  const pages = (page: (after: number) => Row[], at: 0 | 2): number => {
    let n = 0
    for (let after = -1; ;) {
      const rows = page(after)
      for (const row of rows) {
        const e = { position: row[0], stream: row[1], revision: row[2], type: row[3], time: row[4], data: JSON.parse(row[5]) as unknown, metadata: {} }
        if (e.position >= 0) n++
      }
      if (rows.length < PAGE) return n
      after = rows[PAGE - 1]![at]
    }
  }
  return {
    replay: () => pages(after => byPosition.all(after), 0),
    stream: name => pages(after => byStream.all(name, after), 2)
  }
}

/**
 * A run of the SQLite side on the database `name`: opens it, times `read` (which must read
 * `events` events), closes it, so that its pages count in no figure of another side.
 */
export function onSqlite (name: string, events: number, read: (db: SqliteReads) => number): () => Promise<Timing> {
  return async () => {
    const Sqlite = sqlite()
    if (Sqlite === null) throw new Error('better-sqlite3 is not installed')
    const db = new Sqlite(join(BENCH_DIR, name, 'events.db'), { fileMustExist: true })
    try {
      const r = reads(db)
      return await timedRead(events, () => read(r))
    } finally { db.close() }
  }
}
