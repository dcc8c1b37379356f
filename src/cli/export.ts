// `annals export <dir>`: the log as JSON Lines, streamed, for backups, migrations and other
// tools. `annals import` reads it back into an empty database, the same to the byte.
//
// Personal fields are exported readable (as reads give them), or null with --redact; either way
// a line with personal fields says which they are and whose (`personal`: path -> subject), so
// that an import seals them again. Fields already shredded are null and listed in `redacted`.
import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import type { Command } from 'commander'
import type { RecordedEvent } from '../log/types.js'
import { eachSealed, mapSealed } from '../privacy/sealed.js'
import { internalsOf } from '../store/internals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { integer } from './options.js'
import { count, jsonEvent, Lines, progress } from './output.js'

interface ExportOptions extends DatabaseOptions {
  out?: string
  from?: number
  to?: number
  redact?: boolean
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
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .option('--out <file>', 'write to this file (replaced only once the export is complete) rather than standard output')
    .option('--from <position>', 'first position, inclusive', integer)
    .option('--to <position>', 'last position, inclusive', integer)
    .option('--redact', 'personal fields as null, listed in "redacted", as if every subject were shredded')
    .addHelpText('after', `
Examples:
  $ annals export ./data --out backup.jsonl
  $ annals export ./data --redact | gzip > for-support.jsonl.gz

A line: {"id","stream","revision","position","type","data","metadata","time"}, then "tags", "redacted"
(shredded fields) and "personal" (path -> subject of each personal field) when the event has them.
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

async function exportLog (db: Parameters<typeof internalsOf>[0], out: Lines, options: ExportOptions, showProgress: boolean): Promise<number> {
  const { log, privacy } = internalsOf(db)
  const head = log.head.position
  const from = options.from ?? 0
  const to = Math.min(options.to ?? head, head)
  if (from > to) return 0
  const bar = showProgress ? progress('exporting', to - from + 1) : progress('', 0)
  const chunks = log.chunks({ from, to, backwards: false, limit: Infinity }, undefined, true)
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

/** The personal fields of stored data: path -> subject, in the order reads list them; undefined when none. */
function personalFields (data: unknown): Record<string, string> | undefined {
  let fields: Record<string, string> | undefined
  eachSealed(data, s => { (fields ??= {})[s.path] = s.subject })
  return fields
}

/** An event as stored, its personal fields null and listed as redacted. */
function redact (e: RecordedEvent, fields: Record<string, string> | undefined): RecordedEvent {
  if (fields === undefined) return e
  return { ...e, data: mapSealed(e.data, () => null), redacted: Object.keys(fields) }
}
