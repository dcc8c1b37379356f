// The schema of an annals database on PostgreSQL, made on first open and checked at every
// open, under an advisory lock so that processes opening a new database at once make it once:
// an empty (or absent) schema gets the tables and functions; one of annals' of this format is
// used (its functions brought up to date when they changed); one of a newer format is refused
// (ANNALS_UNSUPPORTED_FORMAT); one holding other tables is not annals' (ANNALS_NOT_A_DATABASE).
import { createHash } from 'node:crypto'
import { AnnalsError } from '../../errors.js'
import type { LogHead } from '../backend.js'
import { Connection, checkSchema, rollback, storageError } from './connection.js'
import { functionsSql, functionsVersion } from './functions.js'
import { FORMAT, TABLES, tablesSql } from './tables.js'

/** Tables an annals schema may hold beside its own: the key store's, made on its first use. */
const OPTIONAL_TABLES = new Set(['keys'])

/** Makes or checks the schema of `conn`. */
export async function ensureSchema (conn: Connection): Promise<void> {
  const client = await conn.connect()
  try {
    await client.query('begin')
    const key = createHash('sha256').update(`annals schema\u0000${conn.schema}`).digest().readBigInt64BE(0).toString()
    await client.query('select pg_advisory_xact_lock($1::bigint)', [key])
    const tables = (await client.query<{ name: string }>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm', 'f')`, [conn.schema])).rows.map(r => r.name)
    if (tables.length === 0 || (tables.every(t => OPTIONAL_TABLES.has(t)))) {
      await client.query(`create schema if not exists ${conn.s}`)
      for (const statement of tablesSql(conn.s)) await client.query(statement)
      await setFunctions(conn, client)
    } else {
      await check(conn, client, tables)
    }
    await client.query('commit')
    client.release()
  } catch (err) {
    await rollback(client)
    throw storageError(err)
  }
}

async function check (conn: Connection, client: import('pg').PoolClient, tables: string[]): Promise<void> {
  const where = `schema ${conn.schema}`
  if (!tables.includes('meta')) throw new AnnalsError('ANNALS_NOT_A_DATABASE', `The ${where} holds tables, but not annals' (no meta table): it is not an annals database`)
  const meta = new Map((await client.query<{ name: string, value: string }>(`select name, value from ${conn.s}.meta`)).rows.map(r => [r.name, r.value]))
  const format = meta.get('format')
  if (format === undefined) throw new AnnalsError('ANNALS_NOT_A_DATABASE', `The ${where} has a meta table without annals' format: it is not an annals database`)
  if (format !== String(FORMAT)) {
    throw new AnnalsError('ANNALS_UNSUPPORTED_FORMAT', `The ${where} has format ${format}; this annals reads format ${FORMAT}`)
  }
  const unknown = tables.filter(t => !TABLES.includes(t) && !OPTIONAL_TABLES.has(t))
  const missing = TABLES.filter(t => !tables.includes(t) && !OPTIONAL_TABLES.has(t))
  if (missing.length > 0) throw new AnnalsError('ANNALS_CORRUPT', `The ${where} lacks annals' table${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`)
  if (unknown.length > 0) throw new AnnalsError('ANNALS_NOT_A_DATABASE', `The ${where} holds tables annals does not know (${unknown.join(', ')}): give annals a schema of its own`)
  if (meta.get('functions') !== functionsVersion()) await setFunctions(conn, client)
}

async function setFunctions (conn: Connection, client: import('pg').PoolClient): Promise<void> {
  for (const statement of functionsSql(conn.s)) await client.query(statement)
  await client.query(`insert into ${conn.s}.meta (name, value) values ('functions', $1) on conflict (name) do update set value = excluded.value`, [functionsVersion()])
}

/** The head row: where the log ends. */
export async function readHead (conn: Connection): Promise<LogHead> {
  const rows = await conn.query<{ position: number, time: number }>(`select position, time from ${conn.s}.head`)
  if (rows.length !== 1) throw new AnnalsError('ANNALS_CORRUPT', `The head row of schema ${conn.schema} is missing`)
  return rows[0]!
}

/** The server's clock less this process's, in ms (measured across one round trip). */
export async function clockOffset (conn: Connection): Promise<number> {
  const before = Date.now()
  const rows = await conn.query<{ now: number }>(`select floor(extract(epoch from clock_timestamp()) * 1000)::bigint as now`)
  return rows[0]!.now - Math.round((before + Date.now()) / 2)
}

/** Whether `schema` of the database at `url` holds annals' tables (its meta table), without making anything. */
export async function schemaExists (url: string, schema: string): Promise<boolean> {
  const conn = Connection.make(url, checkSchema(schema))
  try {
    const rows = await conn.query(`select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'meta'`, [schema])
    return rows.length > 0
  } finally {
    await conn.pool.end().catch(() => {})
  }
}

/** Drops `schema` of the database at `url`, with everything in it. */
export async function dropSchema (url: string, schema: string): Promise<void> {
  const conn = Connection.make(url, checkSchema(schema))
  try {
    await conn.query(`drop schema if exists ${conn.s} cascade`)
  } finally {
    await conn.pool.end().catch(() => {})
  }
}
