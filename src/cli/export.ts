// `annals export <dir>`: the log as JSON Lines, streamed, for backups, migrations and other
// tools. `annals import` reads it back into an empty database, the same to the byte.
//
// Personal fields are exported readable (as reads give them), or null with --redact; either way
// a line with personal fields says which they are and whose (`personal`: path -> subject), so
// that an import seals them again. Fields already shredded are null and listed in `redacted`.
//
// Events are exported upcast to their types' current versions (with the application's
// declarations, --events), each line saying its `version`; with --stored, as they are stored.
// An import writes each event at the version its line says.
import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import type { Command } from 'commander'
import type { RecordedEvent } from '../log/types.js'
import { eachSealedAt, mapSealed } from '../privacy/sealed.js'
import { internalsOf } from '../store/internals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { integer } from './options.js'
import { count, jsonEvent, Lines, progress } from './output.js'

interface ExportOptions extends DatabaseOptions {
  out?: string
  from?: number
  to?: number
  redact?: boolean
  stored?: boolean
}

/**
 * Adds the `export` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals export ./data --out backup.jsonl
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('export')
    .description('the log as JSON Lines (one event per line, the field names of RecordedEvent), streamed; personal fields readable unless --redact')
    .argument('<dir>', 'the database folder')
    .option('--out <file>', 'write to this file (replaced only once the export is complete) rather than standard output')
    .option('--from <position>', 'first position, inclusive', integer)
    .option('--to <position>', 'last position, inclusive', integer)
    .option('--redact', 'personal fields as null, listed in "redacted", as if every subject were shredded')
    .option('--stored', 'events at the versions they are stored at, not upcast to their types\' current versions (see --events)')
    .addHelpText('after', `
Examples:
  $ annals export ./data --out backup.jsonl
  $ annals export ./data --redact | gzip > for-support.jsonl.gz
  $ annals export ./data --events dist/events.js --out upcast.jsonl

A line: {"id","stream","revision","position","type","version","data","metadata","time"}, then "tags",
"redacted" (shredded fields) and "personal" (path -> subject of each personal field) when the
event has them. Events are upcast with the declarations of --events, unless --stored; an import
writes each event at the version its line says.
Dates, bytes and bigints in data are tagged: {"$date": "..."}, {"$bytes": "<base64>"}, {"$bigint": "..."}.`))
    .action(async (dir: string, options: ExportOptions) => {
      const file = options.out
      const partial = file === undefined ? undefined : `${file}.partial-${process.pid}`
      const stream = partial === undefined ? process.stdout : createWriteStream(partial)
      const out = new Lines(stream)
      let n = 0
      try {
        n = await withDatabase(dir, options, async db => await exportLog(db, out, options, file !== undefined || process.stdout.isTTY !== true))
        if (partial !== undefined) {
          await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => { if (err == null) resolve(); else reject(err) }))
          await rename(partial, file!)
        }
      } catch (err) {
        if (partial !== undefined) {
          (stream as ReturnType<typeof createWriteStream>).destroy()
          await rm(partial, { force: true })
        }
        throw err
      }
      if (file !== undefined || process.stderr.isTTY === true) {
        process.stderr.write(`exported ${count(n)} event${n === 1 ? '' : 's'}${file === undefined ? '' : ` to ${file}`}\n`)
      }
    })
}

/**
 * What {@link exportLog} writes: positions `from` to `to` (inclusive), personal fields as null
 * with `redact`, events as stored (not upcast) with `stored`.
 */
export interface ExportRange {
  from?: number
  to?: number
  redact?: boolean
  stored?: boolean
}

/**
 * Writes the events of `db` that read, between two positions, to `out` as JSON Lines (the
 * format of `annals export`, which `annals import` reads); resolves with how many it wrote.
 * Shared by `export` and `archive`.
 *
 * @example
 * ```ts
 * const n = await exportLog(db, new Lines(process.stdout), { from: 0, to: 99 }, false)
 * ```
 */
export async function exportLog (db: Parameters<typeof internalsOf>[0], out: Lines, options: ExportRange, showProgress: boolean, label = 'exporting'): Promise<number> {
  const { log, privacy } = internalsOf(db)
  const head = log.head.position
  const from = options.from ?? 0
  const to = Math.min(options.to ?? head, head)
  if (from > to) return 0
  const bar = showProgress ? progress(label, to - from + 1) : progress('', 0)
  const chunks = log.chunks({ from, to, backwards: false, limit: Infinity }, undefined, true, options.stored !== true)
  let n = 0
  try {
    for (let raw = await chunks.next(); raw.length > 0 && !out.closed; raw = await chunks.next()) {
      const personal = raw.map(e => personalFields(e.data))
      const events = options.redact === true ? raw.map((e, i) => redact(e, personal[i])) : await privacy.open(raw)
      for (const [i, e] of events.entries()) {
        const fields = personal[i]
        await out.write(jsonEvent(e, fields === undefined ? undefined : { personal: fields }))
      }
      n += raw.length
      bar.update(n)
    }
  } finally {
    bar.stop()
    await chunks.close()
  }
  return n
}

/** The personal fields of data with its fields sealed: path -> subject, in the order reads list them; undefined when none. */
function personalFields (data: unknown): Record<string, string> | undefined {
  let fields: Record<string, string> | undefined
  eachSealedAt(data, (s, path) => { (fields ??= {})[path] = s.subject })
  return fields
}

/** An event as stored, its personal fields null and listed as redacted. */
function redact (e: RecordedEvent, fields: Record<string, string> | undefined): RecordedEvent {
  if (fields === undefined) return e
  return { ...e, data: mapSealed(e.data, () => null), redacted: Object.keys(fields) }
}
