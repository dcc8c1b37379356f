// A workload, and how it is measured: annals, its baseline and any further references in turn,
// several runs, the median rate of each side, the median and spread of the ratios of the same
// runs (annals over each of the others), and the peak memory of each side.
import { median } from './lib.js'
import { watchMemory, type Peak } from './memory.js'

/** One measurement: how many events (or operations), in how many ms. */
export interface Timing {
  events: number
  ms: number
  /** the median of single operations, when the workload times each: rates then come from it */
  medianMs?: number
  /** the side's peak memory, when it ran in a process of its own (forked.ts): counted instead of this process's */
  peak?: Peak
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
  /** further references measured in the same runs, each with a ratio and a least ratio of its own (raw SQLite, for one) */
  also?: Reference[]
}

/** A further side a workload is compared with, beside its baseline. */
export interface Reference {
  /** what it is, as the report's "compared with" column says */
  raw: string
  target?: number
  run: () => Promise<Timing>
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
  targets: Target[]
  /** the further references, each with annals' ratio to it */
  also: Compared[]
}

export interface Target { target: string, met: boolean }

/** A further reference's figures, and annals' rate over its rate, run by run. */
export interface Compared { raw: string, side: Side, ratio: Stats, targets: Target[] }

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
    const own = stop()
    const p = t.peak ?? own
    this.peak = { rssMB: Math.max(this.peak.rssMB, p.rssMB), anonMB: p.anonMB === null ? this.peak.anonMB : Math.max(this.peak.anonMB ?? 0, p.anonMB) }
    if (t.medianMs !== undefined) this.perOp.push(t.medianMs)
    this.rates.push(rate(t))
    return rate(t)
  }

  side (): Side {
    return { rate: stats(this.rates), msPerOp: this.perOp.length > 0 ? median(this.perOp) : null, memory: this.peak }
  }
}

const least = (target: number, ratio: Stats): Target => ({ target: `≥ ${Number(target.toFixed(2))}`, met: ratio.median >= target })

function targets (w: Workload, annals: Side, ratio: Stats | null): Target[] {
  const out: Target[] = []
  if (w.target !== undefined && ratio !== null) out.push(least(w.target, ratio))
  if (w.maxMs !== undefined) out.push({ target: `≤ ${w.maxMs} ms`, met: (annals.msPerOp ?? Infinity) <= w.maxMs })
  if (w.maxRssMB !== undefined) out.push({ target: `peak RSS < ${w.maxRssMB} MB`, met: annals.memory.rssMB < w.maxRssMB })
  return out
}

/**
 * Measures `w`: an untimed round first when `warm` (compiled code and warm caches on every
 * side), then `runs` runs of every side in turn, each run starting one side further than the run
 * before, so that no side always runs on a warmer machine. `onRun` hears of each run done.
 */
export async function measure (w: Workload, area: string, runs: number, warm: boolean, onRun: (run: number) => void = () => {}): Promise<Result> {
  const annals = new Runs(w.annals)
  const others = [...w.baseline === undefined ? [] : [w.baseline], ...(w.also ?? []).map(r => r.run)].map(run => new Runs(run))
  const sides = [annals, ...others]
  if (warm) for (const side of sides) await side.run()
  const ratios: number[][] = others.map(() => [])
  for (let i = 0; i < runs; i++) {
    const rates = new Map<Runs, number>()
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(i + k) % sides.length]!
      rates.set(side, await side.once())
    }
    others.forEach((other, k) => ratios[k]!.push(rates.get(annals)! / rates.get(other)!))
    onRun(i + 1)
  }
  const side = annals.side()
  const compared = others.map((other, k) => ({ side: other.side(), ratio: stats(ratios[k]!) }))
  const [baseline, ...also] = w.baseline === undefined ? [null, ...compared] : compared
  return {
    name: w.name,
    area,
    unit: w.unit,
    series: w.series ?? null,
    logEvents: w.logEvents ?? null,
    raw: w.raw ?? null,
    runs,
    annals: side,
    baseline: baseline?.side ?? null,
    ratio: baseline?.ratio ?? null,
    targets: targets(w, side, baseline?.ratio ?? null),
    also: (w.also ?? []).map((r, k) => ({
      raw: r.raw,
      ...also[k]!,
      targets: r.target === undefined ? [] : [least(r.target, also[k]!.ratio)]
    }))
  }
}
