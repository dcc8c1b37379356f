// Opening the database a command works on: a folder that must exist (only `import` creates
// one), with the master key from a file or the environment, and errors explained.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { open } from '../store/open.js'
import type { Annals } from '../store/annals.js'
import { CliError, ExitCode, explain, usage } from './errors.js'
import { eventsOption, loadEvents } from './user-module.js'

/** Options every command that opens a database takes. */
export interface DatabaseOptions {
  masterKeyFile?: string
  /** the module of the application's event declarations */
  events?: string
}

/** Adds the options of {@link DatabaseOptions} to a command. */
export function databaseOptions (command: Command): Command {
  return command
    .option('--master-key-file <file>', 'the master key the subjects\' keys are wrapped under (or set ANNALS_MASTER_KEY)')
    .option(...eventsOption)
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
  const path = resolve(dir)
  if (!create) assertDatabase(path)
  const events = options.events === undefined ? undefined : await loadEvents(options.events)
  let db: Annals
  try {
    db = await open(path, { masterKey: masterKey(options), ...(events === undefined ? {} : { events }) })
  } catch (err) {
    throw explain(err, dir)
  }
  try {
    return await work(db)
  } catch (err) {
    throw explain(err, dir)
  } finally {
    await db.close()
  }
}
