// `annals view <dir> <projection> [key] --module <file>`: a view's documents, now or as it was at
// a position or a moment. Views are kept by their projection's name and version, so the command
// registers the projection with `db.project`, from the module of the application that defines
// it, as the application does: the view resumes from where it stands.
import type { Command } from 'commander'
import { readRecords, sameBuild } from '../projections/checkpoints.js'
import { checkDefinition, type ProjectionDefinition } from '../projections/definition.js'
import type { Projection, ProjectionView } from '../projections/handle.js'
import type { Annals } from '../store/annals.js'
import { internalsOf } from '../store/internals.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { usage } from './errors.js'
import { toJsonValue } from './json-value.js'
import { integer, moment } from './options.js'
import { color, count, isoTime, Lines, pretty } from './output.js'
import { loadExport } from './user-module.js'

interface ViewOptions extends DatabaseOptions {
  module: string
  atPosition?: number
  atTime?: number
  prefix?: string
  gte?: string
  lt?: string
  limit?: number
  json?: boolean
  rebuild?: boolean
}

/** Whether `value` looks like a projection definition (checked again by `db.project`). */
export function isDefinition (value: unknown): value is ProjectionDefinition {
  return typeof value === 'object' && value !== null &&
    typeof (value as ProjectionDefinition).name === 'string' && typeof (value as ProjectionDefinition).handle === 'function'
}

/**
 * Adds the `view` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals view ./demo-data per-user user-300 --module dist/demo/views.js
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('view')
    .description('a view\'s documents (one, by key, or a range), now or as it was at a position or a moment')
    .argument('<dir>', 'the database folder')
    .argument('<projection>', 'the projection\'s name')
    .argument('[key]', 'one document\'s key; all of them without it')
    .requiredOption('--module <file>', 'the JS or TS file of yours that exports the projection\'s definition (found by its name; file.js#Name to pick an export)')
    .option('--at-position <p>', 'the view as it was after the event at this position', integer)
    .option('--at-time <time>', 'the view as it was at this moment (ISO 8601, or ms since the epoch)', moment)
    .option('--prefix <prefix>', 'only the keys that start with this')
    .option('--gte <key>', 'only the keys from this one (UTF-8 byte order)')
    .option('--lt <key>', 'only the keys before this one')
    .option('--limit <n>', 'at most this many documents', integer)
    .option('--json', 'JSON Lines: {"key","doc"} per document')
    .option('--rebuild', 'let the view be rebuilt when the definition is not the one that built it')
    .addHelpText('after', `
Examples:
  $ annals view ./demo-data per-user user-300 --module dist/demo/views.js
  $ annals view ./demo-data per-user --module dist/demo/views.js --at-time 2026-05-01T10:00:00Z --limit 5

The projection is registered as the application registers it, so an async one catches up first.
A definition of another version (or history flag) than the stored view's would rebuild it: view
refuses, unless --rebuild. A handler of other source text under the same version (a TypeScript
module compiled here) shows the view as stored, with a warning (ANNALS_PROJECTION_CHANGED).`))
    .action(async (dir: string, name: string, key: string | undefined, options: ViewOptions) => {
      if (options.atPosition !== undefined && options.atTime !== undefined) throw usage('Give --at-position or --at-time, not both')
      const { value: definition } = await loadExport(options.module, `the definition of projection '${name}'`,
        (v: unknown): v is ProjectionDefinition => isDefinition(v) && (options.module.includes('#') || v.name === name))
      if (definition.name !== name) throw usage(`The export ${options.module} defines projection '${definition.name}', not '${name}'`)
      await withDatabase(dir, options, async db => { await show(db, definition, key, options) })
    })
}

/**
 * Registers the projection of the user's module (`module` names it in messages) with
 * `db.project`, as the application does, once sure that it is the definition that built the
 * stored view: another one would rebuild the view, so it is a usage error unless `rebuild`.
 * Says on standard error when no view was kept. `annals view` and `annals ui` register with it.
 *
 * @example
 * ```ts
 * const projection = await projectAsStored(db, PerUser, 'dist/views.js', false)
 * ```
 */
export async function projectAsStored (db: Annals, definition: ProjectionDefinition, module: string, rebuild: boolean): Promise<Projection> {
  const checked = checkDefinition(definition)
  const { log } = internalsOf(db)
  const { active } = await readRecords(log.storage, checked.name)
  const versions = log.upcaster.versions
  if (active !== undefined && !sameBuild(active, checked, versions) && !rebuild) {
    const why = active.version !== checked.version
      ? `version ${checked.version}, the view's is ${active.version}`
      : active.history !== checked.history
        ? `history: ${String(checked.history)}, the view's is ${String(active.history)}`
        : `event versions ${versions === '' ? 'none declared' : versions}, the view's are ${active.versions === '' ? 'none declared' : active.versions}`
    throw usage(`The definition of '${checked.name}' in ${module} is not the one that built the stored view (${why}): ` +
      'showing it would rebuild the view. Point --module (and --events) at the code the application runs, or add --rebuild.')
  }
  if (active === undefined) process.stderr.write(`(no view '${checked.name}' was kept in this database: it is built from the log now)\n`)
  return await db.project(checked)
}

async function show (db: Annals, definition: ProjectionDefinition, key: string | undefined, options: ViewOptions): Promise<void> {
  const projection = await projectAsStored(db, definition, options.module, options.rebuild === true)
  await projection.caughtUp()
  const at = options.atPosition !== undefined ? { position: options.atPosition } : options.atTime !== undefined ? { time: options.atTime } : undefined
  const past = at === undefined ? undefined : await projection.at(at)
  const view: Pick<ProjectionView, 'get' | 'query'> = past ?? projection
  const out = new Lines()
  const json = options.json === true
  if (!json) {
    const when = options.atTime !== undefined ? `at ${isoTime(options.atTime)}` : `at position ${count(options.atPosition ?? 0)}`
    await out.write(color.dim(past === undefined
      ? `view ${definition.name} now (after position ${count(projection.status().position)})`
      : `view ${definition.name} as it was ${when} (after position ${count(past.position)})`))
  }
  if (key !== undefined) {
    const doc = await view.get(key)
    if (json) await out.write(JSON.stringify({ key, doc: doc === undefined ? null : toJsonValue(doc) }))
    else await out.write(doc === undefined ? color.dim(`(no document at '${key}')`) : `${color.cyan(key)} ${pretty(doc, ' '.repeat(key.length + 1))}`)
    return
  }
  const gte = options.gte ?? options.prefix
  const lt = options.lt ?? (options.prefix === undefined ? undefined : prefixEnd(options.prefix))
  let n = 0
  for await (const [k, doc] of view.query({ gte, lt, limit: options.limit })) {
    if (json) await out.write(JSON.stringify({ key: k, doc: toJsonValue(doc) }))
    else await out.write(`${color.cyan(k)} ${pretty(doc, ' '.repeat(k.length + 1))}`)
    n++
    if (out.closed) break
  }
  if (!json) await out.write(color.dim(n === 0 ? '(no documents)' : `(${count(n)} document${n === 1 ? '' : 's'})`))
}

/**
 * The first key after every key that starts with `prefix`, in UTF-8 byte order: the `lt` of a
 * query for the prefix (undefined: no bound).
 *
 * @example
 * ```ts
 * view.query({ gte: 'user-', lt: prefixEnd('user-') })
 * ```
 */
export function prefixEnd (prefix: string): string | undefined {
  // the last code point, plus one; past U+10FFFF there is no bound
  const points = [...prefix]
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!
    if (last < 0x10ffff) return points.join('') + String.fromCodePoint(last + 1 === 0xd800 ? 0xe000 : last + 1)
  }
  return undefined
}
