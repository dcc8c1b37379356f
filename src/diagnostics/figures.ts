// The figures a writer keeps whether anyone looks or not, for `db.stats()`: a few additions per
// batch, and one clock read per append (its latency). Kept cheap on purpose: no allocation, the
// recent values in fixed rings.

/** The latest `size` values of something, in a ring. */
export class Window {
  readonly #values: Float64Array
  #next = 0
  #count = 0

  constructor (size: number) {
    this.#values = new Float64Array(size)
  }

  add (value: number): void {
    this.#values[this.#next] = value
    this.#next = this.#next + 1 === this.#values.length ? 0 : this.#next + 1
    if (this.#count < this.#values.length) this.#count++
  }

  /** The count, mean, median, 99th percentile and largest of the values in the window (zeros when empty). */
  summary (): WindowSummary {
    const n = this.#count
    if (n === 0) return { count: 0, mean: 0, p50: 0, p99: 0, max: 0 }
    const sorted = this.#values.slice(0, n).sort()
    let sum = 0
    for (const v of sorted) sum += v
    return { count: n, mean: sum / n, p50: rank(sorted, 0.5), p99: rank(sorted, 0.99), max: sorted[n - 1]! }
  }
}

/** The nearest-rank percentile of sorted values. */
function rank (sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/**
 * A summary of recent values: how many the window holds, their mean, median (`p50`), 99th
 * percentile (nearest rank) and largest.
 *
 * @example
 * ```ts
 * const { p50, p99 } = db.stats().appends.latency
 * console.log(`appends take ${p50.toFixed(2)} ms, ${p99.toFixed(2)} ms at worst but 1 in 100`)
 * ```
 */
export interface WindowSummary {
  count: number
  mean: number
  p50: number
  p99: number
  max: number
}

/** Appends whose latency is kept: the latest so many. */
export const LATENCY_WINDOW = 1024
/** Batches whose sizes are kept. */
export const BATCH_WINDOW = 256

/** What a backend's writer counted since the database was opened. */
export class WriterFigures {
  /** appends committed (written, or answered as idempotent retries) */
  appends = 0
  /** events written */
  events = 0
  /** batches written */
  batches = 0
  /** ms from joining the writer's queue to being committed, per append */
  readonly latency = new Window(LATENCY_WINDOW)
  /** appends and events per batch written */
  readonly batchAppends = new Window(BATCH_WINDOW)
  readonly batchEvents = new Window(BATCH_WINDOW)
  /** what waits in the writer's queue now */
  readonly queued: () => { appends: number, events: number }

  constructor (queued: () => { appends: number, events: number }) {
    this.queued = queued
  }

  /** A batch was written: `appends` answered by it, `events` written. */
  batch (appends: number, events: number): void {
    this.batches++
    this.appends += appends
    this.events += events
    this.batchAppends.add(appends)
    this.batchEvents.add(events)
  }
}
