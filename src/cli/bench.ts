// `annals bench`: the benchmark suite (bench/run.ts) on this machine, in ./bench-data.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { CliError, ExitCode } from './errors.js'
import { integer } from './options.js'

interface BenchOptions {
  quick?: boolean
  tiny?: boolean
  runs?: number
  memoryEvents?: number
}

/**
 * Adds the `bench` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals bench --quick
 * ```
 */
export function register (program: Command): void {
  program.command('bench')
    .description('run the benchmarks: every workload of annals beside raw classic-level doing the same I/O, in ./bench-data')
    .option('--quick', 'a shorter run (a minute or two)')
    .option('--tiny', 'a run of seconds, to check that it works')
    .option('--runs <n>', 'runs per workload (the median is reported)', integer)
    .option('--memory-events <n>', 'events replayed for the peak memory figure', integer)
    .addHelpText('after', `
Example:
  $ npx annals bench --quick

The results are printed; the files of the run are removed at the end. (In the annals repository,
npm run bench also rewrites docs/benchmarks.md.)`)
    .action(async (options: BenchOptions) => {
      const script = fileURLToPath(new URL('../../bench/run.js', import.meta.url))
      if (!existsSync(script)) throw new CliError(`The benchmark suite is not built (${script} is missing): run npm run build`, ExitCode.notFound)
      const args = [script, '--no-write']
      if (options.quick === true) args.push('--quick')
      if (options.tiny === true) args.push('--tiny')
      if (options.runs !== undefined) args.push('--runs', String(options.runs))
      if (options.memoryEvents !== undefined) args.push('--memory-events', String(options.memoryEvents))
      const child = spawn(process.execPath, args, { stdio: 'inherit' })
      process.exitCode = await new Promise<number>((resolve, reject) => {
        child.once('error', reject)
        child.once('exit', (status, signal) => resolve(status ?? (signal === null ? ExitCode.failure : 128)))
      })
    })
}
