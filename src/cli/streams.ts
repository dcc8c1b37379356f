// `annals streams <dir>`: the streams, with their revision and last commit time.
import type { Command } from 'commander'
import { AnnalsError } from '../errors.js'
import { decodeRecord } from '../log/record.js'
import { listStreams, type StreamSummary } from '../log/stream-list.js'
import { logKey } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
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
