// Opening a folder: what is there before LevelDB opens it, and what a failed open means.
import { readdir } from 'node:fs/promises'
import { AnnalsError } from '../../errors.js'

/** Files LevelDB keeps in its folder, besides CURRENT. */
const LEVELDB_FILE = /^(LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(ldb|log|sst|dbtmp))$/

/**
 * Checks that `location` is a database folder, or a place for a new one: missing, or an empty
 * folder. A regular file, or a folder of something else, is `ANNALS_NOT_A_DATABASE`; a LevelDB
 * folder without its CURRENT file is `ANNALS_CORRUPT`; a folder annals may not read is
 * `ANNALS_STORAGE`.
 */
export async function checkFolder (location: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(location)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return
    if (code === 'ENOTDIR') {
      throw new AnnalsError('ANNALS_NOT_A_DATABASE', `${location} is not a folder: a database is a folder`, { cause: err })
    }
    throw new AnnalsError('ANNALS_STORAGE', `Cannot read the folder ${location}: ${(err as Error).message}`, { cause: err })
  }
  if (names.length === 0 || names.includes('CURRENT')) return
  if (names.some(name => LEVELDB_FILE.test(name)) || names.includes('keys')) {
    throw new AnnalsError('ANNALS_CORRUPT', `${location} holds a database without its CURRENT file`)
  }
  throw new AnnalsError('ANNALS_NOT_A_DATABASE', `${location} holds files that are not a database (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}); open an empty or new folder`)
}

/** The error of a failed open, by what LevelDB said. */
export function openError (err: unknown, location: string | undefined): AnnalsError {
  // a sublevel's error wraps its parent's, which wraps LevelDB's
  let level: { code?: string, message?: string } | undefined
  for (let e = err as { code?: string, message?: string, cause?: unknown } | undefined; e !== undefined && e !== null; e = e.cause as typeof e) {
    if (e.code === 'LEVEL_LOCKED' || e.code === 'LEVEL_CORRUPTION' || e.code === 'LEVEL_IO_ERROR') level = e
  }
  const where = location === undefined ? '' : ` at ${location}`
  if (level?.code === 'LEVEL_LOCKED') {
    return new AnnalsError('ANNALS_LOCKED', `The database${where} is open in another process`, { cause: err })
  }
  const message = level?.message ?? (err as Error)?.message ?? String(err)
  // a CURRENT that names a MANIFEST that is not there is damage too
  if (level?.code === 'LEVEL_CORRUPTION' || /(MANIFEST|CURRENT).*No such file/.test(message)) {
    return new AnnalsError('ANNALS_CORRUPT', `The database${where} is damaged: ${message}`, { cause: err })
  }
  return new AnnalsError('ANNALS_STORAGE', `The database${where} could not be opened: ${message}`, { cause: err })
}
