// The connections of a PostgreSQL backend: a pg pool (made from a URL, and then closed by the
// backend, or the user's, left open), queries through named (prepared) statements, bigints read
// as numbers, and failures as AnnalsErrors.
import { createHash } from 'node:crypto'
import pg from 'pg'
import { AnnalsError } from '../../errors.js'

/** Connections made from a URL: a pool of this many. */
export const POOL_SIZE = 10

/** int8 as a JS number: positions, revisions and times are safe integers by contract. */
const TYPES = {
  getTypeParser (oid: number, format?: 'text' | 'binary') {
    if (oid === 20 && format !== 'binary') return Number
    return pg.types.getTypeParser(oid, format)
  }
} as unknown as pg.CustomTypesConfig

/** A schema name annals accepts: an unquoted identifier of PostgreSQL. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/** Checks a schema name; `TypeError` otherwise. */
export function checkSchema (schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new TypeError('schema must be a PostgreSQL identifier: a letter or _, then letters, digits or _, at most 63 characters')
  }
  return schema
}

/** The pool and schema a backend works in. */
export class Connection {
  readonly pool: pg.Pool
  /** whether the backend made the pool, and ends it on close */
  readonly ownPool: boolean
  /** the schema's name, and quoted for SQL */
  readonly schema: string
  readonly s: string
  /** the channel of the schema's notifications (commits, notices) */
  readonly channel: string
  readonly #names = new Map<string, string>()

  constructor (pool: pg.Pool, ownPool: boolean, schema: string) {
    this.pool = pool
    this.ownPool = ownPool
    this.schema = schema
    this.s = `"${schema}"`
    this.channel = `annals.${schema}`
  }

  /** A pool of {@link POOL_SIZE} connections to `url`, or the user's pool. */
  static make (postgres: string | pg.Pool, schema: string): Connection {
    if (typeof postgres !== 'string') return new Connection(postgres, false, schema)
    const pool = new pg.Pool({ connectionString: postgres, max: POOL_SIZE, application_name: 'annals' } as pg.PoolConfig)
    // an idle connection the server ended: the pool drops it, and the next query connects again
    pool.on('error', () => {})
    return new Connection(pool, true, schema)
  }

  /** The settings of a connection of its own (LISTEN, advisory locks), as the pool's. */
  get clientConfig (): pg.ClientConfig {
    return { ...(this.pool as unknown as { options: pg.ClientConfig }).options }
  }

  /** A query as a named statement (parsed once per connection), reading bigints as numbers. */
  statement (text: string, values: unknown[]): pg.QueryConfig {
    let name = this.#names.get(text)
    if (name === undefined) {
      name = `annals_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
      this.#names.set(text, name)
    }
    return { name, text, values, types: TYPES }
  }

  /** Runs a statement on the pool; failures as AnnalsErrors. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow> (text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(this.statement(text, values))).rows
    } catch (err) {
      throw storageError(err)
    }
  }

  /** Runs a statement on a client (in a transaction); failures as AnnalsErrors. */
  async queryOn<R extends pg.QueryResultRow = pg.QueryResultRow> (client: pg.ClientBase, text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await client.query<R>(this.statement(text, values))).rows
    } catch (err) {
      throw storageError(err)
    }
  }

  /** A client of the pool, for a transaction; failures as AnnalsErrors. */
  async connect (): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect()
    } catch (err) {
      throw storageError(err)
    }
  }
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/**
 * A failure of PostgreSQL or of the connection, as an AnnalsError: a position or revision
 * missing where the functions look (SQLSTATE ANMIS) is ANNALS_CORRUPT; anything else
 * ANNALS_STORAGE, with the error as its cause.
 */
export function storageError (err: unknown): AnnalsError {
  if (err instanceof AnnalsError) return err
  if (sqlState(err) === 'ANMIS') return new AnnalsError('ANNALS_CORRUPT', `The log is damaged: ${(err as Error).message}`, { cause: err })
  return new AnnalsError('ANNALS_STORAGE', `PostgreSQL failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/** Rolls back and releases a client; a client whose rollback failed is destroyed rather than reused. */
export async function rollback (client: pg.PoolClient): Promise<void> {
  try {
    await client.query('rollback')
    client.release()
  } catch (err) {
    client.release(err as Error)
  }
}
