// `annals bench`: the benchmark suite (bench/run.ts) on this machine, in ./bench-data.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { CliError, ExitCode } from './errors.js'
import { integer } from './options.js'

interface BenchOptions {
  events?: number
  streams?: number
  eventSize?: number
  personalFields?: number
  quick?: boolean
  tiny?: boolean
  large?: boolean
  runs?: number
  out?: string
  svg?: string
  only?: string
}

/**
 * Adds the `bench` command to the program (see docs/cli.md). Its options are those of
 * `npm run bench` (bench/options.ts checks their ranges), but for `--no-write`: it always
 * passes it, so that it never rewrites the package's docs.
 *
 * @example
 * ```sh
 * annals bench --quick
 * ```
 */
export function register (program: Command): void {
  program.command('bench')
    .description('run the benchmarks: every workload of annals beside raw classic-level doing the same I/O, the main ones on logs of growing size, in ./bench-data')
    .option('--events <n>', 'the largest log of the scale curve (default 1,000,000; --quick 100,000)', integer)
    .option('--streams <n>', 'streams the events spread over (default 1,000)', integer)
    .option('--event-size <bytes>', 'bytes of each event\'s data, msgpack-encoded (default 250)', integer)
    .option('--personal-fields <n>', 'personal fields per event in the personal-data workloads (default 2)', integer)
    .option('--quick', 'a whole run in under a minute: smaller sizes, 3 runs')
    .option('--tiny', 'a run of seconds, to check that it works')
    .option('--large', 'adds a log of 10,000,000 events to the scale curve')
    .option('--runs <n>', 'runs of each workload; the median is reported (default 5; --quick 3)', integer)
    .option('--out <file.json>', 'where the figures go (default annals-bench.json)')
    .option('--svg <file.svg>', 'where the chart goes (default annals-bench.svg)')
    .option('--only <areas>', 'only these areas of workloads, comma-separated (scavenge, category, shred…), each with the building of its log')
    .addHelpText('after', `
Examples:
  $ npx annals bench --quick
  $ npx annals bench --events 300000 --event-size 1000 --streams 50000
  $ npx annals bench --quick --only scavenge

Prints the progress on standard error and the tables on standard output, and writes the figures
(with the machine and the date) to annals-bench.json and the chart to annals-bench.svg. The
databases of the run, in ./bench-data, are removed at the end.`)
    .action(async (options: BenchOptions) => {
      const script = fileURLToPath(new URL('../../bench/run.js', import.meta.url))
      if (!existsSync(script)) throw new CliError(`The benchmark suite is not built (${script} is missing): run npm run build`, ExitCode.notFound)
      const args = [script, '--no-write']
      for (const flag of ['quick', 'tiny', 'large'] as const) if (options[flag] === true) args.push(`--${flag}`)
      const values = { events: options.events, streams: options.streams, 'event-size': options.eventSize, 'personal-fields': options.personalFields, runs: options.runs, out: options.out, svg: options.svg, only: options.only }
      for (const [name, value] of Object.entries(values)) if (value !== undefined) args.push(`--${name}`, String(value))
      // the run records how it was asked for: as this command, not as npm run bench
      const env = { ...process.env, ANNALS_BENCH_COMMAND: 'annals bench' }
      const child = spawn(process.execPath, args, { stdio: 'inherit', env })
      process.exitCode = await new Promise<number>((resolve, reject) => {
        child.once('error', reject)
        child.once('exit', (status, signal) => resolve(status ?? (signal === null ? ExitCode.failure : 128)))
      })
    })
}
