// `annals streams <dir>`: the streams, with their revision and last commit time.
import type { Command } from 'commander'
import type { StreamSummary } from '../backend/backend.js'
import type { Annals } from '../store/annals.js'
import { internalsOf } from '../store/internals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { color, count, isoTime, Lines } from './output.js'
import { integer } from './options.js'

interface StreamsOptions extends DatabaseOptions {
  prefix?: string
  limit?: number
  json?: boolean
}

/**
 * Adds the `streams` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals streams ./demo-data --prefix user-
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('streams')
    .description('the streams, in the byte order of their names, with their last revision and last commit time')
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .option('--prefix <prefix>', 'only the streams whose name starts with this')
    .option('--limit <n>', 'at most this many streams', integer)
    .option('--json', 'JSON Lines: {"stream","revision","position","time"} per stream')
    .addHelpText('after', '\nExample:\n  $ annals streams ./demo-data --prefix user-1 --limit 5'))
    .action(async (dir: string, options: StreamsOptions) => {
      await withDatabase(dir, options, async db => {
        const backend = internalsOf(db).log.backend
        const out = new Lines()
        const json = options.json === true
        if (!json) await out.write(color.dim(`${'revision'.padStart(10)}  ${'last commit'.padEnd(24)}  stream`))
        let n = 0
        let more = false
        for await (const s of backend.streams({ prefix: options.prefix ?? '', after: undefined, limit: Infinity })) {
          if (out.closed) break
          if (n === options.limit) {
            more = true
            break
          }
          n++
          if (json) await out.write(JSON.stringify(s))
          else await out.write(`${String(s.revision).padStart(10)}  ${color.dim(isoTime(s.time).padEnd(24))}  ${color.cyan(s.stream)}`)
        }
        if (!json && n === 0) await out.write(color.dim(options.prefix === undefined ? '(no streams)' : `(no streams start with '${options.prefix}')`))
        else if (!json && more) await out.write(color.dim(`(the first ${count(n)}; raise --limit to see more)`))
      })
    })
}

/** A stream in a listing: its last revision, and the position and commit time of that event. */
export type StreamRow = StreamSummary

/**
 * A page of the streams whose name starts with `prefix`, in the byte order of their names,
 * after the stream `after` (from the first without it): at most `limit`, and whether more follow
 * (the stream listing of `annals ui`).
 *
 * @example
 * ```ts
 * const { streams, more } = await streamPage(db, { prefix: 'user-', limit: 50 })
 * const next = await streamPage(db, { prefix: 'user-', after: streams.at(-1)!.stream, limit: 50 })
 * ```
 */
export async function streamPage (db: Annals, options: { prefix?: string, after?: string, limit: number }): Promise<{ streams: StreamRow[], more: boolean }> {
  const page: StreamRow[] = []
  let more = false
  for await (const s of internalsOf(db).log.backend.streams({ prefix: options.prefix ?? '', after: options.after, limit: options.limit + 1 })) {
    if (page.length === options.limit) {
      more = true
      break
    }
    page.push(s)
  }
  return { streams: page, more }
}
