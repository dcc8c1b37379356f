// `annals tail <dir> [stream]`: the last events, then new ones as they are committed, like
// `tail -f`, until interrupted. On a live database it is a client of the application's process,
// which pushes it each commit.
import type { Command } from 'commander'
import type { RecordedEvent } from '../log/types.js'
import type { Annals } from '../store/annals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { integer } from './options.js'
import { humanEvent, jsonEvent, Lines } from './output.js'

interface TailOptions extends DatabaseOptions {
  lines: number
  types?: string
  json?: boolean
}

/**
 * Adds the `tail` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals tail ./demo-data --types PhotoAdded,PhotoDeleted --json
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('tail')
    .description('the last events of the log (or of one stream), then each new one as it is committed, until interrupted (Ctrl-C)')
    .argument('<dir>', 'the database folder')
    .argument('[stream]', 'only this stream')
    .option('-n, --lines <n>', 'how many of the last events to show first', integer, 10)
    .option('--types <types>', 'only events of these types, comma-separated')
    .option('--json', 'one JSON object per line, with the field names of RecordedEvent')
    .addHelpText('after', `
Examples:
  $ annals tail ./demo-data
  $ annals tail ./demo-data user-7 -n 0
  $ annals tail ./demo-data --types PhotoAdded,PhotoDeleted --json | jq -c '{stream, type}'`))
    .action(async (dir: string, stream: string | undefined, options: TailOptions) => {
      const types = options.types === undefined ? undefined : options.types.split(',').map(t => t.trim()).filter(t => t !== '')
      await withDatabase(dir, options, async db => { await follow(db, stream, types, options) })
    })
}

/** Prints the last `options.lines` events, then follows the log until a signal or the reader goes. */
async function follow (db: Annals, stream: string | undefined, types: string[] | undefined, options: TailOptions): Promise<void> {
  const out = new Lines()
  const wanted = (e: RecordedEvent): boolean => (stream === undefined || e.stream === stream) && (types === undefined || types.includes(e.type))
  const from = await startOf(db, stream, types, options.lines)
  let first = true
  let writing = Promise.resolve()
  let stop!: () => void
  const stopped = new Promise<void>(resolve => { stop = resolve })
  const sub = db.subscribe({ from, ...types === undefined ? {} : { types } }, async event => {
    if (!wanted(event)) return
    writing = writing.then(async () => {
      if (options.json === true) {
        await out.write(jsonEvent(event))
      } else {
        if (!first) await out.write('')
        await out.write(humanEvent(event))
      }
      first = false
      if (out.closed) stop()
    })
    await writing
  })
  sub.on('error', () => stop())
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stop)
  await stopped
  await sub.close()
  await writing
}

/** The position to start from: that of the `lines`-th last event wanted, or the end of the log. */
async function startOf (db: Annals, stream: string | undefined, types: string[] | undefined, lines: number): Promise<number | 'end'> {
  if (lines === 0) return 'end'
  let last: RecordedEvent | undefined
  if (stream === undefined) {
    for await (const e of db.readAll({ backwards: true, limit: lines, ...types === undefined ? {} : { types } })) last = e
  } else {
    let n = 0
    for await (const e of db.readStream(stream, { backwards: true })) {
      if (types !== undefined && !types.includes(e.type)) continue
      last = e
      if (++n === lines) break
    }
  }
  return last?.position ?? 'end'
}
