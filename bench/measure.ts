// A workload, and how it is measured: annals and its baseline alternately, several runs, the
// median rate of each side, the median and spread of the ratios of the same runs, and the peak
// memory of each side.
import { median } from './lib.js'
import { watchMemory, type Peak } from './memory.js'

/** One measurement: how many events (or operations), in how many ms. */
export interface Timing {
  events: number
  ms: number
  /** the median of single operations, when the workload times each: rates then come from it */
  medianMs?: number
}

/** A workload measured on annals and, in the same runs, on its baseline. */
export interface Workload {
  name: string
  /** events per second, or single operations timed one by one (loads, gets, shreds) */
  unit: 'events' | 'ops'
  /** the baseline: raw classic-level doing the same I/O, or annals without the feature measured */
  raw?: string
  /** on the scale curve: the series it belongs to, and the events in the log */
  series?: string
  logEvents?: number
  /** the issues' targets: a least ratio to the baseline, a most median time per operation, a most peak RSS */
  target?: number
  maxMs?: number
  maxRssMB?: number
  annals: () => Promise<Timing>
  baseline?: () => Promise<Timing>
}

export interface Stats { median: number, min: number, max: number }

export interface Side {
  /** events (or operations) per second: median, lowest and highest of the runs */
  rate: Stats
  /** the median time of one operation, for workloads timed per operation */
  msPerOp: number | null
  memory: Peak
}

/** A workload's figures, as the JSON file holds them. */
export interface Result {
  name: string
  area: string
  unit: 'events' | 'ops'
  series: string | null
  logEvents: number | null
  raw: string | null
  runs: number
  annals: Side
  baseline: Side | null
  /** annals' rate over the baseline's, run by run */
  ratio: Stats | null
  /** the issues' targets and whether this run met them */
  targets: Array<{ target: string, met: boolean }>
}

// per second; at the median operation when the workload timed each one
const rate = (t: Timing): number => t.medianMs !== undefined ? 1000 / t.medianMs : t.events / t.ms * 1000
const stats = (values: number[]): Stats => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) })

/** Timings and peak memory of one side, run after run. */
class Runs {
  readonly rates: number[] = []
  readonly perOp: number[] = []
  peak: Peak = { rssMB: 0, anonMB: null }

  constructor (readonly run: () => Promise<Timing>) {}

  async once (): Promise<number> {
    const stop = watchMemory()
    const t = await this.run()
    const p = stop()
    this.peak = { rssMB: Math.max(this.peak.rssMB, p.rssMB), anonMB: p.anonMB === null ? this.peak.anonMB : Math.max(this.peak.anonMB ?? 0, p.anonMB) }
    if (t.medianMs !== undefined) this.perOp.push(t.medianMs)
    this.rates.push(rate(t))
    return rate(t)
  }

  side (): Side {
    return { rate: stats(this.rates), msPerOp: this.perOp.length > 0 ? median(this.perOp) : null, memory: this.peak }
  }
}

function targets (w: Workload, annals: Side, ratio: Stats | null): Result['targets'] {
  const out: Result['targets'] = []
  if (w.target !== undefined && ratio !== null) out.push({ target: `≥ ${Number(w.target.toFixed(2))}`, met: ratio.median >= w.target })
  if (w.maxMs !== undefined) out.push({ target: `≤ ${w.maxMs} ms`, met: (annals.msPerOp ?? Infinity) <= w.maxMs })
  if (w.maxRssMB !== undefined) out.push({ target: `peak RSS < ${w.maxRssMB} MB`, met: annals.memory.rssMB < w.maxRssMB })
  return out
}

/**
 * Measures `w`: an untimed round first when `warm` (compiled code and warm caches on both
 * sides), then `runs` runs, alternating which side goes first so that neither always runs on a
 * warmer machine. `onRun` hears of each run done.
 */
export async function measure (w: Workload, area: string, runs: number, warm: boolean, onRun: (run: number) => void = () => {}): Promise<Result> {
  const annals = new Runs(w.annals)
  const baseline = w.baseline === undefined ? undefined : new Runs(w.baseline)
  if (warm) {
    await w.annals()
    await w.baseline?.()
  }
  const ratios: number[] = []
  for (let i = 0; i < runs; i++) {
    if (baseline === undefined) {
      await annals.once()
    } else if (i % 2 === 0) {
      const a = await annals.once()
      ratios.push(a / await baseline.once())
    } else {
      const b = await baseline.once()
      ratios.push(await annals.once() / b)
    }
    onRun(i + 1)
  }
  const side = annals.side()
  const ratio = ratios.length > 0 ? stats(ratios) : null
  return {
    name: w.name,
    area,
    unit: w.unit,
    series: w.series ?? null,
    logEvents: w.logEvents ?? null,
    raw: w.raw ?? null,
    runs,
    annals: side,
    baseline: baseline?.side() ?? null,
    ratio,
    targets: targets(w, side, ratio)
  }
}
