// `annals import <dir> <file>`: an export read back into an empty database, as it was: ids,
// streams, revisions, positions, commit times and metadata kept, personal fields sealed again
// (see export.ts). The file may be gzip-compressed (an archive's is). Streamed, in batches; a bad line stops the import and everything it wrote is
// removed, so the database is as it was before.
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import type { Command } from 'commander'
import { Importer, type ImportedEvent } from '../log/import.js'
import { internalsOf } from '../store/internals.js'
import type { Annals } from '../store/annals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { CliError, ExitCode, usage } from './errors.js'
import { inputBytes } from './input.js'
import { fromJsonValue } from './json-value.js'
import { integer } from './options.js'
import { count, progress } from './output.js'

interface ImportOptions extends DatabaseOptions {
  maxEventSize?: number
}

/** A line of an export, read. */
interface Line {
  event: ImportedEvent
  personal: Record<string, string> | undefined
  redacted: string[]
}

const BATCH = 1000
const DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024
const FIELDS = new Set(['id', 'stream', 'revision', 'position', 'type', 'version', 'data', 'metadata', 'time', 'tags', 'redacted', 'personal'])

/**
 * Adds the `import` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals import ./restored backup.jsonl
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('import')
    .description('read an export or an archive (JSON Lines, plain or gzip-compressed) into an empty database, keeping ids, streams, revisions, positions, times and metadata')
    .argument('<dir>', 'the database folder: new, or without events')
    .argument('<file>', 'the export or archive to read (gzip-compressed or not), or - for standard input')
    .option('--max-event-size <bytes>', 'largest record accepted (default 4 MiB, as open())', integer)
    .addHelpText('after', `
Examples:
  $ annals export ./data --out backup.jsonl && annals import ./restored backup.jsonl
  $ annals export ./data | annals import ./copy -
  $ annals import ./old-history archive-2023.jsonl.gz

Personal fields (listed in a line's "personal") are sealed again under keys of the new database;
fields listed in "redacted" stay unreadable there. A bad line stops the import and removes what
it wrote: the database is left as it was.`))
    .action(async (dir: string, file: string, options: ImportOptions) => {
      const path = resolve(dir)
      if (file !== '-' && !existsSync(file)) throw new CliError(`There is no file ${file}`, ExitCode.notFound)
      const existed = existsSync(path)
      const empty = !existed || (statSync(path).isDirectory() && readdirSync(path).length === 0)
      if (!empty && (!statSync(path).isDirectory() || !existsSync(join(path, 'CURRENT')))) {
        throw usage(`${dir} is not a database folder: import into a new or empty folder, or an annals database without events`)
      }
      const keysExisted = existsSync(join(path, 'keys'))
      let imported = 0
      try {
        imported = await withDatabase(dir, options, async db => await importInto(db, dir, file, options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE), true)
      } catch (err) {
        // the database is closed now: remove what the import made
        if (!existed) await rm(path, { recursive: true, force: true })
        else if (empty) for (const name of readdirSync(path)) await rm(join(path, name), { recursive: true, force: true })
        else if (!keysExisted) await rm(join(path, 'keys'), { recursive: true, force: true })
        throw err
      }
      process.stderr.write(`imported ${count(imported)} event${imported === 1 ? '' : 's'} into ${dir}\n`)
    })
}

async function importInto (db: Annals, dir: string, file: string, maxEventSize: number): Promise<number> {
  const { log, privacy } = internalsOf(db)
  if (log.head.position >= 0) {
    throw usage(`The database at ${dir} already has ${count(log.head.position + 1)} events: import into a new folder`)
  }
  const importer = await Importer.start(log, maxEventSize)
  const input = file === '-' ? process.stdin : createReadStream(file)
  const bar = file === '-' ? progress('', 0) : progress('importing', statSync(file).size, 'bytes')
  let batch: Line[] = []
  const write = async (): Promise<void> => {
    // fields the export lists as personal, and those the database's declarations name
    const sealed = batch.filter(l => l.personal !== undefined || privacy.seals(l.event.type))
    const stored = new Map<Line, { data: unknown, digest: Buffer | undefined }>()
    if (sealed.length > 0) {
      const data = await privacy.reseal(sealed.map(l => ({ event: l.event, personal: l.personal, redacted: l.redacted })))
      sealed.forEach((l, i) => { stored.set(l, { data: data[i], digest: privacy.digest(l.event) }) })
    }
    await importer.add(batch.map(l => ({ event: l.event, stored: stored.get(l) })))
    batch = []
  }
  try {
    let lineNumber = 0
    for await (const text of lines(inputBytes(input as AsyncIterable<Buffer>, n => { bar.update(n) }))) {
      lineNumber++
      if (text.trim() === '') continue
      batch.push(parseLine(text, lineNumber))
      if (batch.length === BATCH) await write()
    }
    await write()
    await importer.finish()
    return importer.count
  } catch (err) {
    await importer.abort()
    throw err
  } finally {
    bar.stop()
  }
}

/** The lines of a stream of UTF-8 text, read chunk by chunk. */
async function * lines (input: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8')
  let rest = ''
  for await (const bytes of input) {
    const text = rest + decoder.write(bytes)
    const parts = text.split('\n')
    rest = parts.pop()!
    yield * parts
  }
  rest += decoder.end()
  if (rest !== '') yield rest
}

/** One line of an export; a usage error naming the line when it is not one. */
function parseLine (text: string, n: number): Line {
  const bad = (why: string): CliError => usage(`Line ${n} of the import is not an exported event: ${why}`)
  let o: Record<string, unknown>
  try {
    o = JSON.parse(text)
  } catch (err) {
    throw bad(`it is not JSON (${(err as Error).message})`)
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('it is not a JSON object')
  for (const key of Object.keys(o)) if (!FIELDS.has(key)) throw bad(`unknown field '${key}'`)
  for (const key of ['id', 'stream', 'type'] as const) if (typeof o[key] !== 'string') throw bad(`'${key}' must be a string`)
  for (const key of ['revision', 'position', 'time'] as const) if (!Number.isSafeInteger(o[key])) throw bad(`'${key}' must be an integer`)
  // exports made before versions were recorded have none: version 1
  const version = o.version ?? 1
  if (!(Number.isSafeInteger(version) && (version as number) >= 1)) throw bad("'version' must be a positive integer")
  const tags = o.tags
  if (tags !== undefined && (!Array.isArray(tags) || !tags.every(x => typeof x === 'string'))) throw bad("'tags' must be an array of strings")
  const redacted = o.redacted ?? []
  if (!Array.isArray(redacted) || !redacted.every(p => typeof p === 'string')) throw bad("'redacted' must be an array of field paths")
  const personal = o.personal as Record<string, string> | undefined
  if (personal !== undefined && (typeof personal !== 'object' || personal === null || Array.isArray(personal) ||
      !Object.entries(personal).every(([path, subject]) => path !== '' && typeof subject === 'string' && subject !== ''))) {
    throw bad("'personal' must map field paths to subject ids")
  }
  for (const path of redacted) {
    if (personal?.[path] === undefined) throw bad(`'${path}' is redacted but not in 'personal', which names its subject`)
  }
  let data: unknown
  let metadata: unknown
  try {
    data = fromJsonValue(o.data ?? null)
    metadata = fromJsonValue(o.metadata ?? {})
  } catch (err) {
    throw bad((err as Error).message)
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw bad("'metadata' must be an object")
  return {
    event: {
      id: o.id as string,
      stream: o.stream as string,
      revision: o.revision as number,
      position: o.position as number,
      type: o.type as string,
      version: version as number,
      data,
      metadata: metadata as Record<string, unknown>,
      time: o.time as number,
      ...(tags === undefined ? {} : { tags: tags as string[] })
    },
    personal: personal === undefined || Object.keys(personal).length === 0 ? undefined : personal,
    redacted
  }
}
