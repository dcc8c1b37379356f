// `annals replay <dir> <stream> --aggregate <module>`: steps through a stream, printing each event
// and what it changed in the aggregate's state; `--until` stops at the first event after which
// an expression over `state` and `event` holds, and prints the events that led there. On a
// terminal (or with --step), a prompt steps on from there: next, back, jump, state, quit.
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import type { RecordedEvent } from '../log/types.js'
import { databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { CliError, ExitCode, usage } from './errors.js'
import { isFold, Stepper, type Fold, type Step } from './fold.js'
import { toJsonValue } from './json-value.js'
import { integer } from './options.js'
import { color, count, eventHeader, eventJson, interactive, Lines, pretty } from './output.js'
import { changeLines } from './state-diff.js'
import { aggregateOption, loadExport } from './user-module.js'

interface ReplayOptions extends DatabaseOptions {
  aggregate: string
  from?: number
  to?: number
  until?: string
  context: number
  json?: boolean
  step?: boolean
}

type Condition = (state: unknown, event: RecordedEvent) => unknown

/**
 * Adds the `replay` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals replay ./demo-data user-300 --aggregate dist/demo/storage.js#Storage --until 'state.bytes < 0'
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('replay')
    .description('step through a stream, printing each event and what it changed in the aggregate\'s state; --until stops where an expression starts to hold')
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .argument('<stream>', 'the stream to replay')
    .requiredOption(...aggregateOption)
    .option('--from <revision>', 'first revision to show (the ones before are folded silently)', integer)
    .option('--to <revision>', 'last revision to fold', integer)
    .option('--until <expression>', 'stop at the first event after which this JavaScript expression over `state` and `event` is true')
    .option('--context <n>', 'with --until: how many events before the stop to show', integer, 10)
    .option('--json', 'JSON Lines: {"event", "changes"} per event; with --until, a last line saying where it stopped')
    .option('--step', 'step interactively (next, back, jump, state, quit) even when not on a terminal, reading commands from standard input')
    .addHelpText('after', `
Examples:
  $ annals replay ./demo-data user-42 --aggregate dist/demo/storage.js#Storage
  $ annals replay ./demo-data user-42 --aggregate dist/demo/storage.js#Storage --until 'state.bytes < 0'
  $ annals replay ./data account-1 --aggregate src/account.ts --until 'event.type === "Withdrawn" && state.balance < 100'

The expression is JavaScript, run with your privileges, as your module is. On a terminal the
replay then waits for commands: n (next), b (back), j <revision> (jump), s (state), q (quit).
Exits with 1 when --until never held.`))
    .action(async (dir: string, stream: string, options: ReplayOptions) => {
      const condition = options.until === undefined ? undefined : compile(options.until)
      const { value: fold } = await loadExport(options.aggregate, 'an aggregate definition (an object with initial and evolve)', isFold)
      const stepping = options.json !== true && (options.step === true || interactive())
      const held = await withDatabase(dir, options, async db => {
        const stepper = new Stepper(db, stream, fold, options.to)
        try {
          const out = new Lines()
          const held = condition === undefined
            ? await showAll(stepper, options, out, stepping)
            : await runUntil(stepper, condition, options, fold, out)
          if (stepping && !out.closed) await prompt(stepper, out)
          return held
        } finally {
          await stepper.close()
        }
      })
      if (!held) process.exitCode = ExitCode.problem
    })
}

/** The condition of `--until`; a usage error when it is not an expression. */
function compile (expression: string): Condition {
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    return new Function('state', 'event', `return (${expression}\n)`) as Condition
  } catch (err) {
    throw usage(`--until '${expression}' is not a JavaScript expression: ${(err as Error).message}`)
  }
}

function holds (condition: Condition, step: Step, expression: string): boolean {
  try {
    return Boolean(condition(step.state, step.event))
  } catch (err) {
    throw new CliError(`--until '${expression}' threw after revision ${step.event.revision} (position ${step.event.position}): ${(err as Error)?.message ?? String(err)}`, ExitCode.userCode, { cause: err })
  }
}

/** Every event from --from on; when stepping, only the first, and the prompt goes on. */
async function showAll (stepper: Stepper, options: ReplayOptions, out: Lines, stepping: boolean): Promise<boolean> {
  let step = await stepper.jump(options.from ?? 0)
  let n = 0
  for (; step !== undefined && !out.closed; step = stepping ? undefined : await stepper.next()) {
    await print(step, options.json === true, out)
    n++
  }
  if (n === 0 && options.json !== true) await out.write(color.dim('(no events to replay)'))
  return true
}

/** Folds until the condition holds; prints the last --context events before it, and it. */
async function runUntil (stepper: Stepper, condition: Condition, options: ReplayOptions, fold: Fold, out: Lines): Promise<boolean> {
  const expression = options.until!
  const recent: Step[] = []
  let skipped = 0
  let tested = 0
  for (let step = await stepper.jump(options.from ?? 0); step !== undefined; step = await stepper.next()) {
    tested++
    if (holds(condition, step, expression)) {
      if (skipped > 0 && options.json !== true) await out.write(color.dim(`(${count(skipped)} earlier event${skipped === 1 ? '' : 's'} folded; --context ${options.context + skipped} to see them)\n`))
      for (const before of recent) await print(before, options.json === true, out)
      await print(step, options.json === true, out, true)
      if (options.json === true) {
        await out.write(JSON.stringify({ until: expression, held: true, revision: step.event.revision, position: step.event.position, state: toJsonValue(step.state) }))
      } else {
        await out.write(`${color.bold(color.red('stopped'))}: after revision ${step.event.revision} (position ${step.event.position}, ${step.event.type}), ${color.bold(expression)} holds`)
        await out.write(`${color.dim('state')} ${pretty(step.state, '      ')}`)
      }
      return true
    }
    recent.push(step)
    if (recent.length > options.context) {
      recent.shift()
      skipped++
    }
  }
  const what = `${fold.name ?? 'the aggregate'} over ${count(tested)} event${tested === 1 ? '' : 's'}`
  if (options.json === true) await out.write(JSON.stringify({ until: expression, held: false, events: tested }))
  else await out.write(`${color.yellow('never held')}: ${expression} was false after every event (${what})`)
  return false
}

/** One event and what it changed. */
async function print (step: Step, json: boolean, out: Lines, stop = false): Promise<void> {
  if (json) {
    const changes = step.changes.map(c => ({
      op: c.op,
      path: c.path,
      ...'from' in c ? { from: toJsonValue(c.from) } : {},
      ...'to' in c ? { to: toJsonValue(c.to) } : {}
    }))
    await out.write(JSON.stringify({ event: eventJson(step.event), changes }))
    return
  }
  const e = step.event
  const lines = [
    (stop ? color.red('▶ ') : '') + eventHeader(e),
    `  ${color.dim('data')} ${pretty(e.data, '       ')}`,
    ...Object.keys(e.metadata).length === 0 ? [] : [`  ${color.dim('metadata')} ${pretty(e.metadata, '           ')}`],
    ...changeLines(step.changes).map(line => `  ${line}`)
  ]
  await out.write(lines.join('\n') + '\n')
}

/** Interactive stepping: next, back, jump, state, quit; ends with `q` or the end of standard input. */
async function prompt (stepper: Stepper, out: Lines): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive() })
  const help = color.dim('n next · b back · j <revision> jump · s state · q quit')
  await out.write(help)
  const ask = (): void => {
    rl.setPrompt(color.bold(`${stepper.revision} > `))
    rl.prompt()
  }
  ask()
  try {
    // lines typed (or piped) while a step runs wait in the iterator
    for await (const line of rl) {
      const [command = '', arg] = line.trim().split(/\s+/)
      if (command === 'q' || command === 'quit') break
      let step: Step | undefined
      if (command === 'n' || command === 'next' || command === '') {
        step = await stepper.next()
      } else if (command === 'b' || command === 'back') {
        if (stepper.revision <= 0) {
          await out.write(color.dim('(at the first event)'))
          ask()
          continue
        }
        step = await stepper.jump(stepper.revision - 1)
      } else if ((command === 'j' || command === 'jump') && arg !== undefined && /^\d+$/.test(arg)) {
        step = await stepper.jump(Number(arg))
      } else if (command === 's' || command === 'state') {
        await out.write(`${color.dim('state')} ${pretty(await stepper.state(), '      ')}`)
        ask()
        continue
      } else {
        await out.write(help)
        ask()
        continue
      }
      if (step === undefined) await out.write(color.dim(`(end of the stream, at revision ${stepper.revision})`))
      else await print(step, false, out)
      ask()
    }
  } finally {
    rl.close()
  }
}
