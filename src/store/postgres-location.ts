// Where a database on PostgreSQL lives, as `open` takes it.
import type pg from 'pg'
import { checkKeys } from '../log/validate.js'
import { checkSchema } from '../backend/postgres/connection.js'

/**
 * A database on PostgreSQL: a connection URL (annals makes a pool, and ends it on close) or a
 * pg pool of yours (left open), and the schema of its tables (default `annals`, made on first
 * open). See docs/postgres.md.
 *
 * @example
 * ```ts
 * await open({ postgres: 'postgres://app@db.internal:5432/app' })
 * await open({ postgres: new pg.Pool({ connectionString, max: 20 }), schema: 'billing_events' })
 * ```
 */
export interface PostgresLocation {
  postgres: string | pg.Pool
  schema?: string
}

/** Checks a PostgreSQL location; `TypeError` on misuse. */
export function checkPostgres (location: object): { postgres: string | pg.Pool, schema: string } {
  checkKeys(location, 'The location of open', ['postgres', 'schema'])
  const { postgres, schema } = location as PostgresLocation
  if (typeof postgres === 'string') {
    if (!/^postgres(ql)?:\/\//.test(postgres)) throw new TypeError('postgres must be a postgres:// (or postgresql://) URL, or a pg Pool')
  } else if (!isPool(postgres)) {
    throw new TypeError('postgres must be a postgres:// (or postgresql://) URL, or a pg Pool')
  }
  return { postgres, schema: checkSchema(schema ?? 'annals') }
}

/** Whether a value is a pg pool (of this copy of pg or another one). */
export function isPool (value: unknown): value is pg.Pool {
  const v = value as { connect?: unknown, query?: unknown, end?: unknown } | null
  return typeof v === 'object' && v !== null && typeof v.connect === 'function' && typeof v.query === 'function' && typeof v.end === 'function'
}
