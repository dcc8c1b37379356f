// `annals scavenge <dir>`: takes out of the database's files what no longer reads (events of
// deleted, truncated, expired and archived streams, the snapshots and view history they fed),
// with `db.scavenge`, and says what it removed (see docs/lifecycle.md).
import type { Command } from 'commander'
import type { Annals } from '../store/annals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { count, Lines, progress, type Progress } from './output.js'

interface ScavengeOptions extends DatabaseOptions {
  json?: boolean
}

/** What a scavenge removed: events, snapshots, changes of view history. */
export type Scavenged = Awaited<ReturnType<Annals['scavenge']>>

/**
 * Adds the `scavenge` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals scavenge ./data
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('scavenge')
    .description('take out of the files what no longer reads: events of deleted, truncated, expired and archived streams, and the snapshots and view history they fed')
    .argument('<dir>', 'the database folder')
    .option('--json', 'one JSON object: {"removed","snapshots","history"}')
    .addHelpText('after', `
Example:
  $ annals scavenge ./data

A crash (or Ctrl-C) in the middle loses nothing: run it again and it finishes.`))
    .action(async (dir: string, options: ScavengeOptions) => {
      const report = await withDatabase(dir, options, async db => await scavengeWithProgress(db))
      const out = new Lines()
      await out.write(options.json === true ? JSON.stringify(report) : describeScavenge(report))
    })
}

/** Runs `db.scavenge`, with a progress bar on a terminal. */
export async function scavengeWithProgress (db: Annals): Promise<Scavenged> {
  let bar: Progress | undefined
  try {
    return await db.scavenge({
      onProgress: (done, total) => {
        bar ??= progress('scavenging', total, 'positions')
        bar.update(done)
      }
    })
  } finally {
    bar?.stop()
  }
}

/** What a scavenge removed, for a person. */
export function describeScavenge ({ removed, snapshots, history }: Scavenged): string {
  const plural = (n: number, one: string, many: string): string => `${count(n)} ${n === 1 ? one : many}`
  return `scavenged: removed ${plural(removed, 'event', 'events')}, ${plural(snapshots, 'snapshot', 'snapshots')} and ` +
    `${plural(history, 'change', 'changes')} of view history from the files`
}
