// Opening the database a command works on: a folder that must exist (only `import` creates
// one), or a schema of a PostgreSQL database named by a postgres:// URL (and --schema), with the
// master key from a file or the environment, and errors explained.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { open } from '../store/open.js'
import type { Annals } from '../store/annals.js'
import { schemaExists } from '../backend/postgres/schema.js'
import { CliError, ExitCode, explain, usage } from './errors.js'
import { eventsOption, loadEvents } from './user-module.js'

/** Options every command that opens a database takes. */
export interface DatabaseOptions {
  masterKeyFile?: string
  schema?: string
  /** the module of the application's event declarations */
  events?: string
}

/** Adds the options of {@link DatabaseOptions} to a command. */
export function databaseOptions (command: Command): Command {
  return command
    .option('--master-key-file <file>', 'the master key the subjects\' keys are wrapped under (or set ANNALS_MASTER_KEY)')
    .option(...eventsOption)
    .option('--schema <name>', 'with a postgres:// URL: the schema of the database (default annals)')
}

/** Whether a command's database is a PostgreSQL URL rather than a folder. */
export function isPostgresUrl (where: string): boolean {
  return /^postgres(ql)?:\/\//.test(where)
}

/** How messages name a database: its folder as given, or its URL without the password. */
export function databaseName (where: string, schema?: string): string {
  if (!isPostgresUrl(where)) return where
  let name = where
  try {
    const url = new URL(where)
    if (url.password !== '') url.password = '***'
    name = url.toString()
  } catch {}
  return schema === undefined ? name : `${name} (schema ${schema})`
}

/** Throws exit code 3 unless the schema at `url` holds an annals database. */
export async function assertPostgresDatabase (url: string, schema: string): Promise<void> {
  let exists: boolean
  try {
    exists = await schemaExists(url, schema)
  } catch (err) {
    throw explain(err, databaseName(url))
  }
  if (!exists) throw new CliError(`There is no annals database at ${databaseName(url)} in schema ${schema}`, ExitCode.notFound)
}

/** The master key: from `--master-key-file`, else ANNALS_MASTER_KEY, else none. */
export function masterKey (options: DatabaseOptions): Uint8Array | undefined {
  if (options.masterKeyFile !== undefined) {
    let bytes: Buffer
    try {
      bytes = readFileSync(options.masterKeyFile)
    } catch (err) {
      throw new CliError(`Cannot read the master key file ${options.masterKeyFile}: ${(err as Error).message}`, ExitCode.notFound)
    }
    if (bytes.length === 32) return bytes
    return parseKey(bytes.toString('utf8').trim(), `The master key file ${options.masterKeyFile}`)
  }
  const env = process.env.ANNALS_MASTER_KEY
  if (env !== undefined && env !== '') return parseKey(env.trim(), 'ANNALS_MASTER_KEY')
  return undefined
}

function parseKey (text: string, what: string): Buffer {
  const bytes = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64')
  if (bytes.length !== 32 || (!/^[0-9a-f]{64}$/i.test(text) && bytes.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, ''))) {
    throw usage(`${what} does not hold a master key: 32 bytes, or 64 hex digits, or their base64`)
  }
  return bytes
}

/** Throws exit code 3 unless `dir` holds a LevelDB database. */
export function assertDatabase (dir: string): void {
  if (!existsSync(dir)) throw new CliError(`There is no database at ${dir}: no such folder`, ExitCode.notFound)
  if (!statSync(dir).isDirectory()) throw new CliError(`There is no database at ${dir}: it is a file, not a folder`, ExitCode.notFound)
  if (!existsSync(join(dir, 'CURRENT'))) throw new CliError(`There is no database at ${dir}: the folder is not a LevelDB database`, ExitCode.notFound)
}

/**
 * Opens the database at `dir`, which must exist unless `create`; runs `work` on it and closes
 * it, whatever happens. Errors come out explained (see errors.ts).
 */
export async function withDatabase<T> (dir: string, options: DatabaseOptions, work: (db: Annals) => Promise<T>, create = false): Promise<T> {
  const postgres = isPostgresUrl(dir)
  if (!postgres && options.schema !== undefined) throw usage('--schema is for a database on PostgreSQL (a postgres:// URL)')
  const schema = options.schema ?? 'annals'
  const name = databaseName(dir)
  if (postgres && !create) await assertPostgresDatabase(dir, schema)
  if (!postgres && !create) assertDatabase(resolve(dir))
  const events = options.events === undefined ? undefined : await loadEvents(options.events)
  let db: Annals
  try {
    db = await open(postgres ? { postgres: dir, schema } : resolve(dir), { masterKey: masterKey(options), ...(events === undefined ? {} : { events }) })
  } catch (err) {
    throw explain(err, name)
  }
  try {
    return await work(db)
  } catch (err) {
    throw explain(err, name)
  } finally {
    await db.close()
  }
}
