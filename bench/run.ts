// `npm run bench` (and `annals bench`): every workload of annals beside raw classic-level doing
// the same I/O in the same run, the main ones on logs of growing size; each area of workloads in
// a child process of its own (bench/child.ts). Ends with the tables on standard output, the
// figures in a JSON file, the chart in an SVG file and, for a full run in the repository,
// docs/benchmarks.md and docs/benchmarks.svg rewritten.
import { fork } from 'node:child_process'
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AreaName, Message } from './child.js'
import { chart } from './chart.js'
import { categoryLogEvents } from './consistency.js'
import { BENCH_DIR } from './lib.js'
import { benchPostgresUrl } from './postgres-lib.js'
import type { Result, Stats, Target } from './measure.js'
import { parseOptions, usage, UsageError, type Config } from './options.js'
import { progress, type Progress } from './progress.js'
import { docBlock, json, machine, tables } from './report.js'
import { sqlite } from './sqlite.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

interface Task { area: AreaName, events: number, label: string }

function plan (config: Config): Task[] {
  const log = (n: number): string => `a log of ${fmt(n)} events`
  return [
    { area: 'appends', events: 0, label: 'appends awaited, and with sync' },
    { area: 'diagnostics', events: 0, label: 'appends with and without a diagnostics subscriber' },
    { area: 'processes', events: 0, label: 'many processes: appends and reads from clients, failover' },
    { area: 'aggregates', events: 0, label: 'aggregates: loads, time travel, snapshots' },
    { area: 'projections', events: 0, label: 'projections: the inline cost, a view\'s time travel' },
    { area: 'privacy', events: 0, label: 'appends with personal fields' },
    { area: 'streams-build', events: 0, label: `building ${fmt(config.sizes.shortStreams)} streams of 100 events` },
    { area: 'streams', events: 0, label: 'reading 100-event streams' },
    ...config.curve.flatMap((n): Task[] => [
      { area: 'scale-appends', events: n, label: `appends to ${log(n)}` },
      { area: 'scale-build', events: n, label: `building ${log(n)}` },
      { area: 'scale-reads', events: n, label: `reading ${log(n)}` }
    ]),
    ...config.curve.filter(n => n <= config.sizes.shredMax).flatMap((n): Task[] => [
      { area: 'shred-build', events: n, label: `building ${log(n)} with personal data` },
      { area: 'shred', events: n, label: `shredding in ${log(n)}` }
    ]),
    { area: 'conditions', events: 0, label: 'appends with a condition on a tag query' },
    { area: 'category-build', events: categoryLogEvents(config), label: `building ${log(categoryLogEvents(config))} with a 1% category` },
    { area: 'category', events: categoryLogEvents(config), label: 'reading a 1% category' },
    { area: 'scavenge-build', events: config.sizes.scavengeLog, label: `building ${log(config.sizes.scavengeLog)} to scavenge a tenth of` },
    { area: 'scavenge', events: config.sizes.scavengeLog, label: 'scavenging, and appending meanwhile' },
    // only when a server is given: ANNALS_BENCH_POSTGRES=postgres://…
    ...benchPostgresUrl() === undefined ? [] : [{ area: 'postgres' as const, events: 0, label: 'PostgreSQL: raw transactions, inserts and a streamed select' }]
  ]
}

/** A line for a person as a result arrives. */
function line (r: Result): string {
  const at = r.logEvents === null ? '' : ` (${fmt(r.logEvents)} events)`
  // per operation: the median, and the slowest run's (its median operation: the operation itself when a run times one)
  const figure = r.unit === 'ops' ? `${r.annals.msPerOp!.toFixed(2)} ms (slowest run ${(1000 / r.annals.rate.min).toFixed(2)} ms)` : `${fmt(r.annals.rate.median)} ev/s`
  const ratio = (raw: string | null, s: Stats | null, targets: Target[]): string => s === null
    ? ''
    : `, ${s.median.toFixed(2)}× ${raw ?? ''} (${s.min.toFixed(2)}–${s.max.toFixed(2)})${targets.filter(t => !t.met).map(t => ` MISSED ${t.target}`).join('')}`
  const ratios = [ratio(r.raw, r.ratio, []), ...r.also.map(a => ratio(a.raw, a.ratio, a.targets))].join('')
  const missed = r.targets.filter(t => !t.met).map(t => `, MISSED ${t.target}`).join('')
  return `${r.name}${at}: ${figure}${ratios}, peak RSS ${fmt(r.annals.memory.rssMB)} MB${missed}`
}

/** Runs one task in a child process; resolves with its results. */
async function runTask (task: Task, argv: string[], show: Progress): Promise<Result[]> {
  const results: Result[] = []
  const child = fork(join(here, 'child.js'), [task.area, String(task.events), ...argv], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  child.on('message', (m: Message) => {
    if (m.type === 'workload') show.workload(m.name, m.runs)
    else if (m.type === 'run') show.run(m.run)
    else {
      results.push(m.result)
      show.log(line(m.result))
    }
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', code => resolve(code))
  })
  if (code !== 0) throw new Error(`${task.label} failed (exit code ${code ?? 'by a signal'})`)
  return results
}

function writeDocs (config: Config, results: Result[], date: Date, svg: string): string[] {
  const docs = join(here, '..', '..', 'docs')
  const page = join(docs, 'benchmarks.md')
  const text = readFileSync(page, 'utf8')
  const start = text.indexOf('<!-- results:start -->')
  const end = text.indexOf('<!-- results:end -->')
  if (start < 0 || end < start) throw new Error(`${page} has no block <!-- results:start --> … <!-- results:end -->`)
  writeFileSync(page, `${text.slice(0, start)}<!-- results:start -->\n${docBlock(config, results, date, 'benchmarks.svg')}\n${text.slice(end)}`)
  writeFileSync(join(docs, 'benchmarks.svg'), svg)
  return [page, join(docs, 'benchmarks.svg')]
}

async function main (argv: string[]): Promise<void> {
  const config = parseOptions(argv, process.env.ANNALS_BENCH_COMMAND)
  for (const file of [config.out, config.svg]) {
    const folder = dirname(resolve(file))
    if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UsageError(`cannot write ${file}: no folder ${folder}`)
  }
  const all = plan(config)
  const only = config.only
  const unknown = only?.filter(a => !all.some(t => t.area === a))
  if (unknown !== undefined && unknown.length > 0) throw new UsageError(`--only: no area ${unknown.join(', ')} (areas: ${[...new Set(all.map(t => t.area))].filter(a => !a.endsWith('-build')).join(', ')})`)
  // an area with the one that builds its log first: scavenge-build for scavenge, scale-build for scale-reads
  const tasks = only === undefined ? all : all.filter(t => only.some(a => t.area === a || t.area === `${a}-build` || t.area === a.replace(/-[a-z]+$/, '-build')))
  const started = performance.now()
  const m = machine()
  process.stderr.write(`annals bench: ${config.runs} runs; scale curve at ${config.curve.map(fmt).join(', ')} events; ` +
    `events of ${config.shape.eventSize} bytes over ${fmt(config.shape.streams)} streams; ${m.cores} × ${m.cpu}, Node ${m.node}\n`)
  if (sqlite() === null) process.stderr.write('no raw SQLite rows: better-sqlite3, a dev dependency of annals, is not installed here\n')
  const show = progress(tasks.length)
  const results: Result[] = []
  try {
    for (const [i, task] of tasks.entries()) {
      show.task(i, task.label)
      results.push(...await runTask(task, argv, show))
    }
  } finally {
    show.stop()
    rmSync(BENCH_DIR, { recursive: true, force: true })
  }
  const date = new Date()
  process.stdout.write(`\n${tables(results)}\n`)
  const svg = chart(results, `${config.command} · ${date.toISOString().slice(0, 10)} · ${m.cores} × ${m.cpu}, Node ${m.node}, annals ${m.annals}`)
  writeFileSync(config.out, JSON.stringify(json(config, results, date), null, 2) + '\n')
  writeFileSync(config.svg, svg)
  const written = [config.out, config.svg, ...config.write ? writeDocs(config, results, date, svg) : []]
  process.stderr.write(`\nwrote ${written.join(', ')} in ${((performance.now() - started) / 1000).toFixed(0)} s\n`)
}

try {
  await main(process.argv.slice(2))
} catch (err) {
  process.stderr.write(`annals bench: ${(err as Error).message}\n`)
  if (err instanceof UsageError) process.stderr.write(`\n${usage}\n`)
  process.exitCode = err instanceof UsageError ? 2 : 1
}
