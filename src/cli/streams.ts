// `annals streams <dir>`: the streams, with their revision and last commit time.
import type { Command } from 'commander'
import { AnnalsError } from '../errors.js'
import { decodeRecord } from '../log/record.js'
import { listStreams, type StreamSummary } from '../log/stream-list.js'
import { logKey } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
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

/** Streams whose last event is read in one round trip. */
const CHUNK = 256

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
    .argument('<dir>', 'the database folder')
    .option('--prefix <prefix>', 'only the streams whose name starts with this')
    .option('--limit <n>', 'at most this many streams', integer)
    .option('--json', 'JSON Lines: {"stream","revision","position","time"} per stream')
    .addHelpText('after', '\nExample:\n  $ annals streams ./demo-data --prefix user-1 --limit 5'))
    .action(async (dir: string, options: StreamsOptions) => {
      await withDatabase(dir, options, async db => {
        const storage = internalsOf(db).log.storage
        const out = new Lines()
        const json = options.json === true
        if (!json) await out.write(color.dim(`${'revision'.padStart(10)}  ${'last commit'.padEnd(24)}  stream`))
        let n = 0
        let more = false
        let chunk: StreamSummary[] = []
        const print = async (): Promise<void> => {
          const times = await lastTimes(storage, chunk)
          for (const [i, s] of chunk.entries()) {
            if (json) await out.write(JSON.stringify({ ...s, time: times[i] }))
            else await out.write(`${String(s.revision).padStart(10)}  ${color.dim(isoTime(times[i]!).padEnd(24))}  ${color.cyan(s.stream)}`)
          }
          chunk = []
        }
        for await (const s of listStreams(storage, options.prefix ?? '')) {
          if (out.closed) break
          if (n === options.limit) {
            more = true
            break
          }
          chunk.push(s)
          n++
          if (chunk.length === CHUNK) await print()
        }
        await print()
        if (!json && n === 0) await out.write(color.dim(options.prefix === undefined ? '(no streams)' : `(no streams start with '${options.prefix}')`))
        else if (!json && more) await out.write(color.dim(`(the first ${count(n)}; raise --limit to see more)`))
      })
    })
}

/** The commit times of the streams' last events, in one multi-get. */
async function lastTimes (storage: Storage, streams: StreamSummary[]): Promise<number[]> {
  const records = await storage.getMany(streams.map(s => logKey(s.position)))
  return records.map((bytes, i) => {
    const position = streams[i]!.position
    if (bytes === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The record at position ${position} is missing`)
    return decodeRecord(position, bytes).time
  })
}

/** A stream in a listing: its last revision, and the position and commit time of that event. */
export interface StreamRow extends StreamSummary {
  time: number
}

/**
 * A page of the streams whose name starts with `prefix`, in the byte order of their names,
 * after the stream `after` (from the first without it): at most `limit`, and whether more follow.
 * The listing is read from its start each time, so a page far down a long listing costs the
 * streams before it (the stream listing of `annals ui`).
 *
 * @example
 * ```ts
 * const { streams, more } = await streamPage(db, { prefix: 'user-', limit: 50 })
 * const next = await streamPage(db, { prefix: 'user-', after: streams.at(-1)!.stream, limit: 50 })
 * ```
 */
export async function streamPage (db: Annals, options: { prefix?: string, after?: string, limit: number }): Promise<{ streams: StreamRow[], more: boolean }> {
  const storage = internalsOf(db).log.storage
  const after = options.after === undefined ? undefined : Buffer.from(options.after, 'utf8')
  const page: StreamSummary[] = []
  let more = false
  for await (const s of listStreams(storage, options.prefix ?? '')) {
    if (after !== undefined && Buffer.compare(Buffer.from(s.stream, 'utf8'), after) <= 0) continue
    if (page.length === options.limit) {
      more = true
      break
    }
    page.push(s)
  }
  const times = page.length === 0 ? [] : await lastTimes(storage, page)
  return { streams: page.map((s, i) => ({ ...s, time: times[i]! })), more }
}
