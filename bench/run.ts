// `npm run bench`: every workload beside raw classic-level in the same run; the median ratio of
// several runs, a table on the terminal, and docs/benchmarks.md rewritten with the figures.
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { aggregateWorkloads } from './aggregates.js'
import { privacyWorkloads, shredTime } from './privacy.js'
import { appendWorkloads, readWorkloads, type Sizes, type Timing, type Workload } from './log.js'
import { BENCH_DIR, median } from './lib.js'
import { atLatency, projectionWorkloads, type ProjectionSizes } from './projections.js'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tiny: { type: 'boolean', default: false },
    runs: { type: 'string' },
    'memory-events': { type: 'string' },
    'no-write': { type: 'boolean', default: false }
  }
})

const sizes: Sizes = args.tiny
  ? { events: 2000, streams: 50, awaited: 200, syncAwaited: 20, streamEvents: 200 }
  : args.quick
    ? { events: 20_000, streams: 200, awaited: 2000, syncAwaited: 200, streamEvents: 2000 }
    : { events: 100_000, streams: 1000, awaited: 20_000, syncAwaited: 1000, streamEvents: 10_000 }
const projectionSizes: ProjectionSizes = args.tiny
  ? { catchUp: 2000, appends: 2000, changes: 2000 }
  : args.quick
    ? { catchUp: 200_000, appends: 20_000, changes: 100_000 }
    : { catchUp: 1_000_000, appends: 100_000, changes: 100_000 }
const runs = Number(args.runs ?? (args.tiny ? 1 : args.quick ? 3 : 5))
const memoryEvents = Number(args['memory-events'] ?? (args.tiny ? 5000 : args.quick ? 100_000 : 1_000_000))

interface Row {
  name: string
  raw: string
  target: number | undefined
  maxMs: number | undefined
  annalsRate: number
  rawRate: number
  ratio: number
  spread: [number, number]
}

// operations per second; at the median operation when the workload timed each one
const rate = (t: Timing): number => t.medianMs !== undefined ? 1000 / t.medianMs : t.events / t.ms * 1000

async function measure (w: Workload): Promise<Row> {
  const ratios: number[] = []
  const annalsRates: number[] = []
  const rawRates: number[] = []
  if (runs > 1) {
    // one untimed round first: compiled code and warm caches on both sides
    await w.annals()
    await w.baseline()
  }
  for (let i = 0; i < runs; i++) {
    // alternate the order so that neither side always runs on a warmer machine
    let annals: Timing
    let raw: Timing
    if (i % 2 === 0) {
      annals = await w.annals()
      raw = await w.baseline()
    } else {
      raw = await w.baseline()
      annals = await w.annals()
    }
    annalsRates.push(rate(annals))
    rawRates.push(rate(raw))
    ratios.push(rate(annals) / rate(raw))
  }
  const row = {
    name: w.name,
    raw: w.raw,
    target: w.target,
    maxMs: w.maxMs,
    annalsRate: median(annalsRates),
    rawRate: median(rawRates),
    ratio: median(ratios),
    spread: [Math.min(...ratios), Math.max(...ratios)] as [number, number]
  }
  process.stderr.write(`  ${row.name}: ${fmt(row.annalsRate)} ev/s, ${row.ratio.toFixed(2)}x raw\n`)
  return row
}

/** The target and whether it was met: a ratio to raw, or the median time of one operation. */
function targetCell (r: Row): string {
  if (r.maxMs !== undefined) {
    const ms = 1000 / r.annalsRate
    return `≤ ${r.maxMs} ms (median ${ms.toFixed(2)} ms) | ${ms <= r.maxMs ? 'met' : 'MISSED'}`
  }
  if (r.target === undefined) return ' | '
  return `≥ ${Number(r.target.toFixed(2))} | ${r.ratio >= r.target ? 'met' : 'MISSED'}`
}

function fmt (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

const here = fileURLToPath(new URL('.', import.meta.url))
interface MemoryRun { events: number, ms: number, peakRssMB: number, peakAnonMB: number }
function memoryRun (): { annals: MemoryRun, raw: MemoryRun } {
  const script = join(here, 'memory.js')
  execFileSync(process.execPath, [script, 'write', String(memoryEvents)], { stdio: 'inherit' })
  const replay = (who: string): MemoryRun => JSON.parse(execFileSync(process.execPath, [script, 'replay', who], { encoding: 'utf8' }).trim().split('\n').pop()!)
  return { raw: replay('raw'), annals: replay('annals') }
}

process.stderr.write(`annals bench: ${runs} runs, ${sizes.events} events over ${sizes.streams} streams\n`)
const rows: Row[] = []
for (const w of appendWorkloads(sizes)) rows.push(await measure(w))
const reads = await readWorkloads(sizes)
try {
  for (const w of reads.workloads) rows.push(await measure(w))
} finally { await reads.close() }
const aggregates = await aggregateWorkloads(args.tiny ? 'tiny' : args.quick ? 'quick' : 'full')
try {
  for (const w of aggregates.workloads) rows.push(await measure(w))
} finally { await aggregates.close() }
const projections = await projectionWorkloads(projectionSizes)
try {
  for (const w of projections.workloads) rows.push(await measure(w))
} finally { await projections.close() }
for (const w of privacyWorkloads(sizes)) rows.push(await measure(w))
// shred: how its time grows with the database
const shredSizes = args.tiny ? [2000] : args.quick ? [10_000, 100_000] : [100_000, 1_000_000]
const shreds: Array<{ events: number, ms: number }> = []
for (const events of shredSizes) {
  shreds.push({ events, ms: await shredTime(events, args.tiny ? 3 : 9) })
  process.stderr.write(`  shred one subject in ${fmt(events)} events: median ${shreds.at(-1)!.ms.toFixed(1)} ms\n`)
}
const at = await atLatency(projectionSizes.changes, args.tiny ? 20 : 200)
process.stderr.write(`  at({ position }).get: median ${at.annalsMs.toFixed(2)} ms\n`)
process.stderr.write(`  replaying ${memoryEvents} events for peak memory...\n`)
const memory = memoryRun()
process.stderr.write(`  replay of ${memory.annals.events} events: ${fmt(memory.annals.events / memory.annals.ms * 1000)} ev/s, peak RSS ${memory.annals.peakRssMB.toFixed(0)} MB (raw ${memory.raw.peakRssMB.toFixed(0)} MB)\n`)
rmSync(BENCH_DIR, { recursive: true, force: true })

const table = [
  '| workload | annals ev/s | raw classic-level | raw ev/s | ratio (median) | spread | target | |',
  '| --- | ---: | --- | ---: | ---: | --- | ---: | --- |',
  ...rows.map(r => `| ${r.name} | ${fmt(r.annalsRate)} | ${r.raw} | ${fmt(r.rawRate)} | ${r.ratio.toFixed(2)} | ${r.spread[0].toFixed(2)}–${r.spread[1].toFixed(2)} | ${targetCell(r)} |`),
  `| replay ${fmt(memory.annals.events)} events: peak RSS | ${memory.annals.peakRssMB.toFixed(0)} MB | same replay | ${memory.raw.peakRssMB.toFixed(0)} MB | | | < 150 MB | ${memory.annals.peakRssMB < 150 ? 'met' : 'MISSED'} |`,
  `| at({ position }).get on a view with ${fmt(projectionSizes.changes)} changes: median | ${at.annalsMs.toFixed(2)} ms | a get | ${at.rawMs.toFixed(3)} ms | | | < 5 ms | ${at.annalsMs < 5 ? 'met' : 'MISSED'} |`,
  `| replay ${fmt(memory.annals.events)} events: peak anonymous memory | ${memory.annals.peakAnonMB.toFixed(0)} MB | same replay | ${memory.raw.peakAnonMB.toFixed(0)} MB | | | | |`,
  ...shreds.map(x => `| shred one subject in ${fmt(x.events)} events (with a view and snapshots): median | ${x.ms.toFixed(1)} ms | | | | | | |`)
].join('\n')
process.stdout.write('\n' + table + '\n')

const pkg = JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { version: string }
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, annals ${pkg.version}`
const command = `npm run bench${args.quick ? ' -- --quick' : ''}${args.runs !== undefined ? ` -- --runs ${runs}` : ''}`
if (!args['no-write'] && !args.tiny) {
  const doc = join(here, '..', '..', 'docs', 'benchmarks.md')
  const text = readFileSync(doc, 'utf8')
  const start = text.indexOf('<!-- results:start -->')
  const end = text.indexOf('<!-- results:end -->')
  if (start >= 0 && end > start) {
    const block = `<!-- results:start -->\n\`${command}\`, ${new Date().toISOString().slice(0, 10)}, ${machine}; ${runs} runs, ${sizes.events.toLocaleString('en-US')} events of ~250 bytes over ${sizes.streams.toLocaleString('en-US')} streams.\n\n${table}\n`
    writeFileSync(doc, text.slice(0, start) + block + text.slice(end))
    process.stderr.write(`wrote ${doc}\n`)
  }
}
