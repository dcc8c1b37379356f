// `annals read <dir> [stream]`: events, for a person or, with --json, for other tools.
import type { Command } from 'commander'
import { EventIterator } from '../log/reader.js'
import type { RecordedEvent } from '../log/types.js'
import { checkStream } from '../log/validate.js'
import type { Annals } from '../store/annals.js'
import { internalsOf } from '../store/internals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { collectValues, integer } from './options.js'
import { color, count, humanEvent, jsonEvent, Lines } from './output.js'

interface ReadOptions extends DatabaseOptions {
  from?: number
  to?: number
  limit?: number
  backwards?: boolean
  type?: string[]
  json?: boolean
  stored?: boolean
}

/**
 * Adds the `read` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals read ./demo-data user-7
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('read')
    .description('events of one stream (by revision) or of the whole log (by position), one block per event, or JSON Lines with --json')
    .argument('<dir>', 'the database folder')
    .argument('[stream]', 'the stream to read; the whole log without it')
    .option('--from <n>', 'first revision (of the stream) or position (of the log), inclusive', integer)
    .option('--to <n>', 'last revision or position, inclusive', integer)
    .option('--limit <n>', 'at most this many events', integer)
    .option('--backwards', 'newest first; then --from is the highest and --to the lowest')
    .option('--type <type>', 'only events of this type (repeat for more)', collectValues)
    .option('--json', 'one JSON object per line, with the field names of RecordedEvent')
    .option('--stored', 'events as stored: at the versions they were appended at, not upcast (see --events)')
    .addHelpText('after', `
Examples:
  $ annals read ./demo-data user-7
  $ annals read ./demo-data --backwards --limit 10
  $ annals read ./demo-data --type PhotoDeleted --json | jq -c '{stream, position}'
  $ annals read ./demo-data user-7 --events dist/demo/events.js

Events are read as the application reads them when --events names its event declarations:
upcast to their types' current versions. --stored shows them as they are stored.`))
    .action(async (dir: string, stream: string | undefined, options: ReadOptions) => {
      await withDatabase(dir, options, async db => {
        const range = { from: options.from, to: options.to, backwards: options.backwards === true }
        const types = options.type === undefined ? undefined : new Set(options.type)
        const events: AsyncIterable<RecordedEvent> = options.stored === true
          ? stored(db, stream, { ...range, limit: options.limit ?? Infinity }, types)
          : stream === undefined
            ? db.readAll({ ...range, limit: options.limit, types: options.type })
            : filtered(db.readStream(stream, { ...range, limit: types === undefined ? options.limit : undefined }), types, options.limit)
        const out = new Lines()
        let n = 0
        for await (const e of events) {
          if (options.json === true) {
            await out.write(jsonEvent(e))
          } else {
            if (n > 0) await out.write('')
            await out.write(humanEvent(e))
          }
          n++
          if (out.closed) break
        }
        if (options.json !== true) await out.write(color.dim(n === 0 ? '(no events)' : `\n(${count(n)} event${n === 1 ? '' : 's'})`))
      })
    })
}

/** Events as stored (not upcast), personal fields opened as reads open them. */
function stored (db: Annals, stream: string | undefined, range: { from?: number, to?: number, backwards: boolean, limit: number }, types: ReadonlySet<string> | undefined): AsyncIterable<RecordedEvent> {
  const { log } = internalsOf(db)
  const { from, to, backwards, limit } = range
  if (stream === undefined) return new EventIterator(() => log.chunks({ from, to, backwards, limit }, types, false, false), () => {})
  return filtered(new EventIterator(() => log.streamChunks(checkStream(stream), { from, to, backwards, limit: types === undefined ? limit : Infinity }, false, false), () => {}), types, limit)
}

/** Events of `types` only (all without), at most `limit` of them. */
async function * filtered (events: AsyncIterable<RecordedEvent>, types: ReadonlySet<string> | undefined, limit: number | undefined): AsyncGenerator<RecordedEvent> {
  if (types === undefined) {
    yield * events
    return
  }
  let n = 0
  for await (const e of events) {
    if (n === limit) return
    if (!types.has(e.type)) continue
    yield e
    n++
  }
}
