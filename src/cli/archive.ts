// `annals archive <dir> --before <position|time> <file>`: moves old history out of the
// database. The events that read before the bound are written to a gzip-compressed JSON Lines
// file in the format of `annals export` (which `annals import` reads), made durable; only then
// is the archive recorded (a `$LogArchived` event: every position before the bound reads no
// more) and the database scavenged. A crash before the record leaves the database as it was
// (and perhaps a complete file); after it, the next scavenge finishes the removal.
import { createWriteStream } from 'node:fs'
import { open as openFile, rename, rm } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { InvalidArgumentError, type Command } from 'commander'
import { internalsOf } from '../store/internals.js'
import type { Annals } from '../store/annals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { exportLog } from './export.js'
import { count, Lines } from './output.js'
import { describeScavenge, scavengeWithProgress, type Scavenged } from './scavenge.js'

/** Where an archive ends: before a position, or before a moment (ms since the epoch). */
export type Bound = { position: number } | { time: number }

interface ArchiveOptions extends DatabaseOptions {
  before: Bound
  redact?: boolean
  json?: boolean
}

/**
 * `--before`: digits are a position; anything else an ISO 8601 time (or a date).
 *
 * @example
 * ```ts
 * bound('1000')                 // { position: 1000 }
 * bound('2024-05-01T00:00:00Z') // { time: 1714521600000 }
 * ```
 */
export function bound (value: string): Bound {
  if (/^\d+$/.test(value)) {
    const position = Number(value)
    if (!Number.isSafeInteger(position)) throw new InvalidArgumentError('expected a position (a non-negative integer) or an ISO 8601 time.')
    return { position }
  }
  const time = Date.parse(value)
  if (!Number.isFinite(time)) throw new InvalidArgumentError('expected a position (a non-negative integer) or an ISO 8601 time (2024-05-01T00:00:00Z).')
  return { time }
}

/**
 * Adds the `archive` command to the program (see docs/cli.md and docs/lifecycle.md).
 *
 * @example
 * ```sh
 * annals archive ./data --before 2024-01-01T00:00:00Z ./archive-2023.jsonl.gz
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('archive')
    .description('move old history out: write the events before a position or moment to a compressed JSON Lines file (readable by annals import), then remove them from the database')
    .argument('<dir>', 'the database folder')
    .argument('<file>', 'the archive to write (gzip-compressed JSON Lines), replaced only once it is complete')
    .requiredOption('--before <position|time>', 'archive every position before this one (an integer), or every event committed before this moment (ISO 8601)', bound)
    .option('--redact', 'personal fields as null in the archive, as annals export --redact')
    .option('--json', 'one JSON object: {"archived","before","file","removed","snapshots","history"}')
    .addHelpText('after', `
Examples:
  $ annals archive ./data --before 2024-01-01T00:00:00Z archive-2023.jsonl.gz
  $ annals archive ./data --before 1000000 first-million.jsonl.gz
  $ annals import ./old-history archive-2023.jsonl.gz

The file is complete and on disk before anything is removed. Personal fields are written readable
(as annals export writes them) unless --redact: keep the archive as you keep the database.`))
    .action(async (dir: string, file: string, options: ArchiveOptions) => {
      const result = await withDatabase(dir, options, async db => await archive(db, resolve(file), options))
      const out = new Lines()
      if (options.json === true) {
        await out.write(JSON.stringify({ archived: result.archived, before: result.before, file, ...result.scavenged }))
        return
      }
      await out.write(`archived ${count(result.archived)} event${result.archived === 1 ? '' : 's'} (positions before ${count(result.before)}) to ${file}`)
      await out.write(describeScavenge(result.scavenged))
    })
}

/** Writes the archive, records it, scavenges. */
async function archive (db: Annals, file: string, options: ArchiveOptions): Promise<{ archived: number, before: number, scavenged: Scavenged }> {
  const { log } = internalsOf(db)
  const head = log.head.position
  const given = options.before
  // before a moment: the first position committed at or after it
  const before = Math.min('position' in given ? given.position : await log.positionAt(given.time - 1) + 1, head + 1)
  const archived = await writeArchive(db, file, before, options.redact === true)
  // the file is durable: now the events it holds may go
  await log.lifecycle({ kind: 'archive', before }, true)
  const scavenged = await scavengeWithProgress(db)
  return { archived, before, scavenged }
}

/** Writes positions below `before` to `file`, gzip-compressed, durably (fsync of the file and its folder). */
async function writeArchive (db: Annals, file: string, before: number, redact: boolean): Promise<number> {
  const partial = `${file}.partial-${process.pid}`
  const gzip = createGzip()
  const written = pipeline(gzip, createWriteStream(partial))
  written.catch(() => {}) // seen below, or through the writes' errors
  try {
    const n = before <= 0 ? 0 : await exportLog(db, new Lines(gzip), { from: 0, to: before - 1, redact }, true, 'archiving')
    gzip.end()
    await written
    await fsync(partial)
    await rename(partial, file)
    await fsync(dirname(file))
    return n
  } catch (err) {
    gzip.destroy()
    await written.catch(() => {})
    await rm(partial, { force: true })
    throw err
  }
}

async function fsync (path: string): Promise<void> {
  const handle = await openFile(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
