// `annals shred <dir> <subject...>`: forgets data subjects, for good (see docs/privacy.md).
import { createInterface } from 'node:readline/promises'
import type { Command } from 'commander'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { usage } from './errors.js'
import { color, interactive } from './output.js'

interface ShredOptions extends DatabaseOptions {
  yes?: boolean
}

/**
 * Adds the `shred` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals shred ./data user-7 --yes
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('shred')
    .description('forget data subjects: erase their keys, so that their personal fields read as null everywhere, for good')
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .argument('<subject...>', 'the subject ids (as in the personal-data declarations)')
    .option('-y, --yes', 'do not ask for confirmation (needed when not run on a terminal)')
    .addHelpText('after', `
Example:
  $ annals shred ./data user-7 --yes

There is no undo: once shredded, a subject's personal fields cannot be read again by anyone.`))
    .action(async (dir: string, subjects: string[], options: ShredOptions) => {
      if (subjects.some(s => s === '')) throw usage('A subject id must not be empty')
      if (options.yes !== true) {
        if (!interactive()) throw usage('shred cannot be undone: add --yes to confirm when not on a terminal')
        const rl = createInterface({ input: process.stdin, output: process.stdout })
        const answer = await rl.question(`Shred ${subjects.join(', ')} in ${dir}? Their personal data will be unreadable for ever. [y/N] `)
        rl.close()
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write('nothing was shredded\n')
          return
        }
      }
      await withDatabase(dir, options, async db => { await db.shred(subjects) })
      process.stdout.write(`${color.green('shredded')} ${subjects.join(', ')}: their personal fields now read as null\n`)
    })
}
