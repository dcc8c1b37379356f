// `annals bench`: the benchmark suite (bench/run.ts), with its options, in this folder.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { CliError, ExitCode } from './errors.js'

export function register (program: Command): void {
  program.command('bench')
    .description('run the benchmarks: every workload of annals beside raw classic-level doing the same I/O, in ./bench-data')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .option('-h, --help', 'this help')
    .addHelpText('after', `
Options of the benchmark suite, passed on to it:
  --quick              a shorter run (a minute or two)
  --tiny               a run of a few seconds, to check that it works
  --runs <n>           runs per workload (the median is reported)
  --memory-events <n>  events replayed for the peak memory figure

Example:
  $ npx annals bench --quick

The results are printed; the files are written to ./bench-data and removed at the end.`)
    .action(async (options: { help?: boolean }, command: Command) => {
      if (options.help === true) command.help()
      const script = fileURLToPath(new URL('../../bench/run.js', import.meta.url))
      if (!existsSync(script)) throw new CliError(`The benchmark suite is not built (${script} is missing): run npm run build`, ExitCode.notFound)
      // the suite rewrites docs/benchmarks.md of the annals repository only when asked (npm run bench)
      const args = [script, ...command.args, ...(command.args.includes('--no-write') ? [] : ['--no-write'])]
      const child = spawn(process.execPath, args, { stdio: 'inherit' })
      const code = await new Promise<number>((resolve, reject) => {
        child.once('error', reject)
        child.once('exit', (status, signal) => resolve(status ?? (signal === null ? ExitCode.failure : 128)))
      })
      process.exitCode = code
    })
}
