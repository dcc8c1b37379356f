// `annals ui <dir>`: a local web page over the database, read-only, until Ctrl+C. The aggregates
// (--aggregate) and projections (--module) of the user's modules are what its time slider shows.
// The server and its libraries are imported when the command runs, so that the other commands
// do not load them.
import type { Command } from 'commander'
import type { Aggregate } from '../aggregates/define.js'
import type { ProjectionDefinition } from '../projections/definition.js'
import type { Annals } from '../store/annals.js'
import type { RunningView } from '../ui/data.js'
import { asAggregate } from './at.js'
import { databaseName, databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { usage } from './errors.js'
import { isFold } from './fold.js'
import { collectValues, integer } from './options.js'
import { color, errorColor } from './output.js'
import { loadExports } from './user-module.js'
import { isDefinition, projectAsStored } from './view.js'

interface UiCommandOptions extends DatabaseOptions {
  port?: number
  open?: boolean
  aggregate?: string[]
  module?: string[]
  rebuild?: boolean
}

/**
 * Adds the `ui` command to the program (see docs/ui.md).
 *
 * @example
 * ```sh
 * annals ui ./demo-data --aggregate dist/demo/storage.js#Storage --module dist/demo/views.js --open
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('ui')
    .description('a local web page over the database (read-only): overview, streams, events, and the log with a time slider')
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .option('--port <n>', 'the port on 127.0.0.1 (default: a free one)', port)
    .option('--open', 'open the page in the system\'s browser, if one is set up')
    .option('--aggregate <module>', 'a JS or TS file exporting aggregate definitions (file.js: all of them; file.js#Name: one) for the time slider; repeat for more', collectValues)
    .option('--module <file>', 'a JS or TS file exporting projection definitions (file.js: all of them; file.js#Name: one) whose views the time slider shows; repeat for more', collectValues)
    .option('--rebuild', 'let a view be rebuilt when its definition is not the one that built it')
    .addHelpText('after', `
Examples:
  $ annals ui ./demo-data
  $ annals ui ./demo-data --aggregate dist/demo/storage.js#Storage --module dist/demo/views.js --open

The page is served on 127.0.0.1 only, behind the token in the address printed; it only reads.
The projections of --module are registered as the application registers them (async ones catch
up first), and --aggregate loads use and write snapshots, as \`annals view\` and \`annals at\` do.
Stop it with Ctrl+C.`))
    .action(async (dir: string, options: UiCommandOptions) => {
      const aggregates = await loadAggregates(options.aggregate ?? [])
      const definitions = await loadDefinitions(options.module ?? [])
      await withDatabase(dir, options, async db => { await serve(db, databaseName(dir, options.schema), options, aggregates, definitions) })
    })
}

/** A port number. */
function port (value: string): number {
  const n = integer(value)
  if (n > 65535) throw usage('--port must be from 0 to 65535')
  return n
}

async function loadAggregates (specs: string[]): Promise<Map<string, Aggregate>> {
  const out = new Map<string, Aggregate>()
  for (const spec of specs) {
    for (const { name, value } of await loadExports(spec, 'an aggregate definition (made by defineAggregate)', isFold)) {
      const aggregate = asAggregate(value)
      const key = out.has(aggregate.name) ? `${aggregate.name} (${name})` : aggregate.name
      out.set(key, aggregate)
    }
  }
  return out
}

async function loadDefinitions (specs: string[]): Promise<Array<{ spec: string, definition: ProjectionDefinition }>> {
  const out: Array<{ spec: string, definition: ProjectionDefinition }> = []
  for (const spec of specs) {
    for (const { value } of await loadExports(spec, 'a projection definition (made by defineProjection)', isDefinition)) {
      if (out.some(d => d.definition.name === value.name)) throw usage(`Two projections are named '${value.name}' (the second in ${spec}): give one of them`)
      out.push({ spec, definition: value })
    }
  }
  return out
}

/** Serves the page until SIGINT or SIGTERM. */
async function serve (db: Annals, dir: string, options: UiCommandOptions, aggregates: Map<string, Aggregate>, definitions: Array<{ spec: string, definition: ProjectionDefinition }>): Promise<void> {
  const views = new Map<string, RunningView>()
  for (const { spec, definition } of definitions) {
    const projection = await projectAsStored(db, definition, spec, options.rebuild === true)
    views.set(projection.name, { definition, projection })
  }
  const { startUi } = await import('../ui/server.js')
  const ui = await startUi(db, { location: dir, port: options.port, aggregates, views })
  // the signals are heard from before the address is printed: whoever reads it may stop us at once
  const stopped = new Promise<void>(resolve => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  process.stdout.write(`annals ui: serving ${dir} (read-only) at\n  ${color.bold(ui.url)}\nStop it with Ctrl+C.\n`)
  if (options.open === true) await openBrowser(ui.url)
  await stopped
  await ui.close()
}

/**
 * Opens `url` in the system's browser when one is set up: never fails (the address is printed
 * either way). On Linux, a browser needs a display (DISPLAY or WAYLAND_DISPLAY) or BROWSER.
 */
async function openBrowser (url: string): Promise<void> {
  const env = process.env
  if (process.platform === 'linux' && [env.BROWSER, env.DISPLAY, env.WAYLAND_DISPLAY].every(v => v === undefined || v === '')) {
    process.stderr.write(errorColor.dim('(--open: no browser is set up here, no display and no BROWSER: open the address yourself)\n'))
    return
  }
  try {
    const { default: open } = await import('open')
    const child = await open(url)
    child.on('error', () => {})
  } catch (err) {
    process.stderr.write(errorColor.dim(`(--open: could not open a browser: ${(err as Error)?.message ?? String(err)}; open the address yourself)\n`))
  }
}
