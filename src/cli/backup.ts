// `annals backup <dir> <dest>`: a consistent copy of a database, live or not, made by the
// process that owns it from one LevelDB snapshot, with its key store.
import { existsSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { internalsOf } from '../store/internals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { usage } from './errors.js'
import { color, Lines } from './output.js'

/**
 * Adds the `backup` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals backup ./data /backups/data-2026-12-04
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('backup')
    .description('a consistent copy of a database into a new folder, while the application goes on appending: every event, view, snapshot and checkpoint as of one moment, and the subjects\' keys')
    .argument('<dir>', 'the database folder')
    .argument('<dest>', 'the new folder (missing, or empty)')
    .addHelpText('after', `
Example:
  $ annals backup ./data /backups/data-$(date +%F)

The copy is a database folder: open it, verify it, or put it in place of the original (with
the application stopped) to restore. Subjects' keys are copied as stored (wrapped under the
master key, if there is one): keep the backup as safe as the database.`))
    .action(async (dir: string, dest: string, options: DatabaseOptions) => {
      const target = resolve(dest)
      if (existsSync(target) && readdirSync(target).length > 0) throw usage(`The backup goes into a new or empty folder; ${dest} holds files`)
      const role = await withDatabase(dir, options, async db => {
        const { backup } = internalsOf(db)
        if (backup === undefined) throw usage('Only a database in a folder can be backed up')
        await backup(target)
        return db.role
      })
      await new Lines().write(`backed up ${dir} to ${dest}${role === 'client' ? color.dim(' (by the process that has it open, as of one moment)') : ''}`)
    })
}
