// What a run writes: the machine it ran on, the tables (Markdown, padded to read on a terminal
// too), the JSON file of all figures, and the block of docs/benchmarks.md.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, release, totalmem, type as osType } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Config } from './options.js'
import type { Result, Side, Stats, Target } from './measure.js'
import { sqliteVersion } from './sqlite.js'

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  annals: string
  classicLevel: string
  /** better-sqlite3's version and its SQLite's, for the raw SQLite rows; null without it */
  betterSqlite3: string | null
}

function version (packageJson: string): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version
}

export function machine (): Machine {
  const require = createRequire(import.meta.url)
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    os: `${osType()} ${release()} ${process.arch}`,
    node: process.version,
    annals: version(fileURLToPath(new URL('../../package.json', import.meta.url))),
    classicLevel: version(join(dirname(require.resolve('classic-level')), 'package.json')),
    betterSqlite3: sqliteVersion()
  }
}

/** The JSON file: everything needed to read the figures again, or compare them with another run's. */
export function json (config: Config, results: Result[], date: Date): object {
  return {
    date: date.toISOString(),
    command: config.command,
    machine: machine(),
    options: { mode: config.mode, runs: config.runs, curve: config.curve, ...config.shape },
    units: 'rates are per second (events, or operations for unit "ops"); msPerOp is the median time of one operation; memory in MiB',
    results
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const fixed = (n: number): string => n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)

function figure (r: Result, side: Side): string {
  return r.unit === 'ops' && side.msPerOp !== null ? `${fixed(side.msPerOp)} ms` : `${fmt(side.rate.median)} ev/s`
}

function memory (side: Side | null): string {
  if (side === null) return ''
  return `${fmt(side.memory.rssMB)}${side.memory.anonMB === null ? '' : ` (${fmt(side.memory.anonMB)})`}`
}

/** A Markdown table padded to its columns' widths; `right` says which columns are numbers. */
export function table (header: string[], right: boolean[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, 3, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => right[i] === true ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `| ${widths.map((w, i) => right[i] === true ? '-'.repeat(w - 1) + ':' : '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}

/** The cells of a row: annals beside one side it is compared with (none, the baseline, or a further reference). */
function cells (r: Result, raw: string | null, side: Side | null, ratio: Stats | null, targets: Target[]): string[] {
  return [
    figure(r, r.annals),
    raw ?? '',
    side === null ? '' : figure(r, side),
    ratio === null ? '' : ratio.median.toFixed(2),
    ratio === null ? '' : `${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}`,
    memory(r.annals),
    memory(side),
    targets.map(t => `${t.target} ${t.met ? 'met' : 'MISSED'}`).join('; ')
  ]
}

/** A result's rows: beside its baseline, then beside each further reference; `first` are the cells before. */
function rows (r: Result, first: string[], next: string[]): string[][] {
  return [
    [...first, ...cells(r, r.raw, r.baseline, r.ratio, r.targets)],
    ...r.also.map(a => [...next, ...cells(r, a.raw, a.side, a.ratio, a.targets)])
  ]
}

const columns = ['annals', 'compared with', 'its figure', 'ratio', 'spread', 'annals peak MB', 'its peak MB', 'target']
const numeric = [true, false, true, true, false, true, true, false]

/** The tables of a run: the workloads off the curve, then the curve, size by size. */
export function tables (results: Result[]): string {
  const off = results.filter(r => r.series === null)
  const curve = results.filter(r => r.series !== null)
  const series = [...new Set(curve.map(r => r.series))]
  const byLog = series.flatMap(s => curve.filter(r => r.series === s).sort((a, b) => a.logEvents! - b.logEvents!))
  const first = table(['workload', ...columns], [false, ...numeric], off.flatMap(r => rows(r, [r.name], [''])))
  // a run of some areas only (--only) may have nothing on the curve
  if (byLog.length === 0) return first
  return [
    first,
    '',
    'As the log grows (events in the log, then the same columns):',
    '',
    table(['workload', 'events in the log', ...columns], [false, true, ...numeric],
      byLog.flatMap((r, i) => rows(r, [i > 0 && byLog[i - 1]!.series === r.series ? '' : r.name, fmt(r.logEvents!)], ['', fmt(r.logEvents!)])))
  ].join('\n')
}

/** The generated block of docs/benchmarks.md: the command, the machine, the chart, the tables. */
export function docBlock (config: Config, results: Result[], date: Date, svgName: string): string {
  const m = machine()
  const longRuns = config.runsGiven ? '' : ` (${Math.min(3, config.runs)} at 1,000,000 events and more, 1 at 10,000,000)`
  return [
    `\`${config.command}\`, ${date.toISOString().slice(0, 10)}: ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, annals ${m.annals}, classic-level ${m.classicLevel}${m.betterSqlite3 === null ? '' : `, better-sqlite3 ${m.betterSqlite3}`}; ` +
      `${config.runs} runs${longRuns}; events of ${config.shape.eventSize} bytes of data over ${fmt(config.shape.streams)} streams, ${config.shape.personalFields} personal fields. ` +
      'Peak memory: RSS (anonymous) in MB.',
    '',
    `![Events per second against the number of events in the log, annals and raw classic-level](${svgName})`,
    '',
    tables(results)
  ].join('\n')
}
