// `annals at <dir> <stream> --aggregate <module>`: an aggregate's state as it was after a
// revision of its stream, at a position of the log or at a moment, loaded with `db.load` (from
// its snapshots, as the application would).
import type { Command } from 'commander'
import { checkAggregate, defineAggregate, type Aggregate } from '../aggregates/define.js'
import type { LoadTarget } from '../aggregates/target.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { usage } from './errors.js'
import { isFold } from './fold.js'
import { toJsonValue } from './json-value.js'
import { integer, moment } from './options.js'
import { color, isoTime, Lines, pretty } from './output.js'
import { aggregateOption, loadExport } from './user-module.js'

interface AtOptions extends DatabaseOptions {
  aggregate: string
  revision?: number
  position?: number
  time?: number
  json?: boolean
}

/**
 * Adds the `at` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals at ./demo-data user-300 --aggregate dist/demo/storage.js#Storage --revision 2
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('at')
    .description('an aggregate\'s state as it was: after a revision of the stream, at a position of the log, or at a moment (now without one)')
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .argument('<stream>', 'the stream the aggregate folds')
    .requiredOption(...aggregateOption)
    .option('--revision <n>', 'after this revision of the stream', integer)
    .option('--position <p>', 'after the stream\'s events at or before this position of the log', integer)
    .option('--time <time>', 'after the events committed at or before this moment (ISO 8601, or ms since the epoch)', moment)
    .option('--json', 'one JSON object: {"stream","revision","position","time","state"}')
    .addHelpText('after', `
Examples:
  $ annals at ./demo-data user-7 --aggregate dist/demo/time-travel.js#Album --revision 3
  $ annals at ./data account-1 --aggregate src/account.ts#Account --time 2024-05-01T10:00:00Z --json

Loads use and write the aggregate's snapshots, as the application's loads do. Point --aggregate
at the code the application runs: snapshots made by other code (another version, an edited
evolve) are not used.`))
    .action(async (dir: string, stream: string, options: AtOptions) => {
      const given = (['revision', 'position', 'time'] as const).filter(k => options[k] !== undefined)
      if (given.length > 1) throw usage(`Give one of --revision, --position and --time, not ${given.map(k => `--${k}`).join(' and ')}`)
      const at: LoadTarget | undefined = options.revision !== undefined
        ? { revision: options.revision }
        : options.position !== undefined ? { position: options.position } : options.time !== undefined ? { time: options.time } : undefined
      const { value } = await loadExport(options.aggregate, 'an aggregate definition (made by defineAggregate)', isFold)
      const aggregate = asAggregate(value)
      await withDatabase(dir, options, async db => {
        const loaded = await db.load(aggregate, stream, at === undefined ? undefined : { at })
        let time: number | null = null
        for await (const e of db.readStream(stream, { from: Math.max(loaded.revision, 0), limit: loaded.revision < 0 ? 0 : 1 })) time = e.time
        const out = new Lines()
        if (options.json === true) {
          await out.write(JSON.stringify({ stream, revision: loaded.revision, position: loaded.position, time, state: toJsonValue(loaded.state) }))
          return
        }
        const when = options.revision !== undefined
          ? `after revision ${options.revision}`
          : options.position !== undefined ? `at position ${options.position}` : options.time !== undefined ? `at ${isoTime(options.time)}` : 'now'
        await out.write(loaded.revision < 0
          ? `${color.cyan(stream)} ${when}: ${color.dim('no event yet: the initial state')}`
          : `${color.cyan(stream)} ${when}: revision ${loaded.revision} ${color.dim(`(position ${loaded.position}, committed ${isoTime(time!)})`)}`)
        await out.write(`${color.dim('state')} ${pretty(loaded.state, '      ')}`)
      })
    })
}

/**
 * The definition as `db.load` takes it. One made by another copy of annals (a module that
 * imports its own) is defined again here, from the same functions: the same fingerprint, so
 * the same snapshots.
 *
 * @example
 * ```ts
 * const { value } = await loadExport('dist/account.js#Account', 'an aggregate definition', isFold)
 * const state = (await db.load(asAggregate(value), 'account-1')).state
 * ```
 */
export function asAggregate (value: { name?: string, initial: () => unknown, evolve: Aggregate['evolve'], snapshotEvery?: number, version?: number }): Aggregate {
  try {
    return checkAggregate(value)
  } catch {
    try {
      const { name, initial, evolve, snapshotEvery, version } = value
      return defineAggregate({ name: name!, initial, evolve, ...(snapshotEvery === undefined ? {} : { snapshotEvery }), ...(version === undefined ? {} : { version }) })
    } catch (err) {
      throw usage(`The aggregate definition is not one defineAggregate accepts: ${(err as Error).message}`)
    }
  }
}
