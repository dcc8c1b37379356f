// db.stats(): the figures of an open database at this moment, for people without OpenTelemetry
// (annals/otel reports the same ones as metrics). The writer counts appends, batches and
// latencies all the time (diagnostics/figures.ts); the rest is read when asked.
import type { DatabaseInfo } from '../diagnostics/channels.js'
import { WriterFigures, type WindowSummary } from '../diagnostics/figures.js'
import type { Log } from '../log/log.js'
import type { Projected } from '../projections/projected.js'
import type { Subscription } from '../subscriptions/subscription.js'

/**
 * What `db.stats()` returns: the database's figures now. Counts are since it was opened;
 * latencies (ms, from an append joining the writer's queue to its batch being written) are of
 * the last 1,024 appends; batch sizes of the last 256 batches. Lags count positions committed
 * past where a projection or subscription has handled.
 *
 * @example
 * ```ts
 * const { appends, batches, queue, projections } = db.stats()
 * console.log(`${appends.count} appends (${appends.events} events) in ${batches.count} batches, ` +
 *   `p99 ${appends.latency.p99.toFixed(2)} ms, ${queue.events} events waiting`)
 * for (const p of projections) console.log(p.name, p.state, 'lag', p.lag)
 * ```
 */
export interface Stats {
  /** which database (as the diagnostics channels' messages name it) */
  database: DatabaseInfo
  /** the last committed position (-1: empty) and its commit time */
  head: { position: number, time: number }
  appends: {
    /** appends written since open */
    count: number
    /** events written since open */
    events: number
    /** ms per append, over the last 1,024 */
    latency: WindowSummary
  }
  batches: {
    /** batches written since open */
    count: number
    /** appends per batch, over the last 256 */
    appends: WindowSummary
    /** events per batch, over the last 256 */
    events: WindowSummary
  }
  /** appends waiting in the writer's queue, and their events */
  queue: { appends: number, events: number }
  /** each registered projection: the last position handled, the lag, the state */
  projections: Array<{ name: string, mode: 'async' | 'inline', position: number, lag: number, state: 'catching-up' | 'live' | 'rebuilding' | 'failed' }>
  /** each running subscription (`name`: the durable name, undefined for others) */
  subscriptions: Array<{ name: string | undefined, position: number, lag: number }>
}

const NO_FIGURES = new WriterFigures(() => ({ appends: 0, events: 0 }))

/** The figures of the database `log` belongs to, with its projections and subscriptions. */
export function collectStats (log: Log, projections: Iterable<Projected>, subscriptions: Iterable<Subscription>): Stats {
  const figures = log.backend.figures ?? NO_FIGURES
  const { position, time } = log.head
  return {
    database: log.database,
    head: { position, time },
    appends: { count: figures.appends, events: figures.events, latency: figures.latency.summary() },
    batches: { count: figures.batches, appends: figures.batchAppends.summary(), events: figures.batchEvents.summary() },
    queue: figures.queued(),
    projections: [...projections].map(p => {
      const s = p.status()
      return { name: p.name, mode: p.definition.mode === 'inline' ? 'inline' as const : 'async' as const, position: s.position, lag: s.lag, state: s.state }
    }),
    subscriptions: [...subscriptions].map(s => ({ name: s.name, position: s.position, lag: Math.max(0, position - s.position) }))
  }
}
