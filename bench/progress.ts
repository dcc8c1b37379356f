// Progress of a run on standard error: on a terminal, a bar over the tasks with the workload and
// run under way, the lines of results printed above it; elsewhere, the lines alone.
import cliProgress from 'cli-progress'

export interface Progress {
  task (index: number, label: string): void
  workload (name: string, runs: number): void
  run (run: number): void
  /** a line of results */
  log (line: string): void
  stop (): void
}

export function progress (tasks: number): Progress {
  if (process.stderr.isTTY !== true) {
    const start = performance.now()
    return {
      task: (index, label) => process.stderr.write(`[${index + 1}/${tasks}, ${((performance.now() - start) / 1000).toFixed(0)} s] ${label}\n`),
      workload () {},
      run () {},
      log: line => process.stderr.write(`  ${line}\n`),
      stop () {}
    }
  }
  const bars = new cliProgress.MultiBar({
    format: '{bar} {value}/{total} | {task} | {workload} {runs}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    autopadding: true,
    barsize: 24
  }, cliProgress.Presets.shades_classic)
  const bar = bars.create(tasks, 0, { task: '', workload: '', runs: '' })
  let runs = 0
  return {
    task: (index, label) => { bar.update(index, { task: label, workload: '', runs: '' }) },
    workload: (name, n) => { runs = n; bar.update({ workload: name, runs: `run 0/${n}` }) },
    run: n => { bar.update({ runs: `run ${n}/${runs}` }) },
    log: line => { bars.log(`  ${line}\n`) },
    stop: () => { bar.update(tasks); bars.stop() }
  }
}
