// Loading the user's module that exports an aggregate or projection definition: `file.js` (its
// default export, or its only export of that kind) or `file.js#Name`. JavaScript is imported as
// it is; TypeScript (.ts, .mts, .cts) through jiti, which compiles it in memory, so that
// `annals at ./src/account.ts#Account` works without a build step.
import { existsSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createJiti } from 'jiti'
import { checkEventDeclarations, type EventDeclaration } from '../log/event-declarations.js'
import { CliError, ExitCode, usage } from './errors.js'

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts'])

/** The option of `at` and `replay` that names the module exporting the aggregate definition. */
export const aggregateOption = ['--aggregate <module>', 'a JS or TS file exporting the aggregate definition: file.js, or file.js#Name to pick an export'] as const

/** The option of the commands that open a database, naming the module that declares the application's event versions. */
export const eventsOption = ['--events <module>', 'a JS or TS file exporting the application\'s event declarations (the events option of open: { Type: { version, upcast } }): events are read upcast, as the application reads them; file.js#Name to pick an export'] as const

/**
 * The event declarations exported by the module `spec` (`path`, or `path#Name`): an object of
 * `{ version, upcast }` by event type, as `open`'s `events` option takes. A usage error when
 * it is malformed.
 *
 * @example
 * ```ts
 * const events = await loadEvents('dist/demo/events.js')
 * const db = await open('./demo-data', { events })
 * ```
 */
export async function loadEvents (spec: string): Promise<Record<string, EventDeclaration>> {
  const { name, value } = await loadExport(spec, 'event declarations (an object of { version, upcast } by event type)', isEventDeclarations)
  try {
    checkEventDeclarations(value)
  } catch (err) {
    throw usage(`The event declarations '${name}' of ${spec} are malformed: ${(err as Error).message}`)
  }
  return value
}

function isEventDeclarations (value: unknown): value is Record<string, EventDeclaration> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const declarations = Object.values(value)
  return declarations.length > 0 && declarations.every(d => typeof d === 'object' && d !== null && typeof (d as { version?: unknown }).version === 'number')
}

/**
 * The export named by `spec` (`path#Name`, or `path` for the default or only matching export)
 * that passes `matches`; `what` names it in messages ("an aggregate definition").
 */
export async function loadExport<T> (spec: string, what: string, matches: (value: unknown) => value is T): Promise<{ name: string, value: T }> {
  const { file, wanted, module } = await importModule(spec)
  const names = Object.keys(module)
  if (wanted !== undefined) return { name: wanted, value: named(module, file, wanted, what, matches) }
  if (matches(module.default)) return { name: 'default', value: module.default }
  const found = names.filter(n => matches(module[n]))
  if (found.length === 1) return { name: found[0]!, value: module[found[0]!] as T }
  throw new CliError(found.length === 0
    ? `The module ${file} exports nothing that is ${what} (it exports ${list(names)})`
    : `The module ${file} exports several: ${list(found)}; pick one with ${file}#${found[0]!}`, found.length === 0 ? ExitCode.notFound : ExitCode.usage)
}

/**
 * Every export of the module `spec` names that passes `matches` (`path`), or the one it names
 * (`path#Name`); at least one, or `what` names what is missing in the message. For `annals ui`,
 * which offers all the aggregates and projections of a module.
 *
 * @example
 * ```ts
 * const views = await loadExports('dist/views.js', 'a projection definition', isDefinition)
 * ```
 */
export async function loadExports<T> (spec: string, what: string, matches: (value: unknown) => value is T): Promise<Array<{ name: string, value: T }>> {
  const { file, wanted, module } = await importModule(spec)
  if (wanted !== undefined) return [{ name: wanted, value: named(module, file, wanted, what, matches) }]
  const names = Object.keys(module)
  const found = names.filter(n => matches(module[n]))
  // the default export is usually one of the named ones too
  const values = [...new Set(found.map(n => module[n]))]
  if (values.length === 0) throw new CliError(`The module ${file} exports nothing that is ${what} (it exports ${list(names)})`, ExitCode.notFound)
  return values.map(value => ({ name: found.find(n => module[n] === value && n !== 'default') ?? 'default', value: value as T }))
}

/** Imports the module of `spec` (`path` or `path#Name`). */
async function importModule (spec: string): Promise<{ file: string, wanted: string | undefined, module: Record<string, unknown> }> {
  const hash = spec.lastIndexOf('#')
  const file = hash < 0 ? spec : spec.slice(0, hash)
  const wanted = hash < 0 ? undefined : spec.slice(hash + 1)
  const path = resolve(file)
  if (!existsSync(path)) throw new CliError(`There is no module ${file} (looked for ${path})`, ExitCode.notFound)
  try {
    const module = TYPESCRIPT.has(extname(path))
      ? await createJiti(import.meta.url).import(path) as Record<string, unknown>
      : await import(pathToFileURL(path).href) as Record<string, unknown>
    return { file, wanted, module }
  } catch (err) {
    throw new CliError(`The module ${file} failed to load: ${(err as Error)?.message ?? String(err)}`, ExitCode.userCode, { cause: err })
  }
}

/** The export `wanted` of the module, which must pass `matches`. */
function named<T> (module: Record<string, unknown>, file: string, wanted: string, what: string, matches: (value: unknown) => value is T): T {
  if (!(wanted in module)) throw new CliError(`The module ${file} has no export '${wanted}' (it exports ${list(Object.keys(module))})`, ExitCode.notFound)
  const value = module[wanted]
  if (!matches(value)) throw new CliError(`The export '${wanted}' of ${file} is not ${what}`, ExitCode.usage)
  return value
}

function list (names: string[]): string {
  return names.length === 0 ? 'nothing' : names.map(n => `'${n}'`).join(', ')
}
