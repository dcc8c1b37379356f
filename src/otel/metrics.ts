// Metrics of one database: the duration of operations after OpenTelemetry's database conventions
// (db.client.operation.duration, in seconds), and annals' own: batches (appends and events per
// batch, their write's duration), events appended, and as gauges read from db.stats() when
// collected, the writer's queue and the lag of each projection and subscription. Streams are not
// an attribute of any metric: there may be millions of them.
import type { Attributes, BatchObservableCallback, Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api'
import type { Annals } from '../store/annals.js'
import type { AppendMessage, BatchMessage, LoadMessage, ReadMessage, ShredMessage } from '../diagnostics/channels.js'
import { baseAttributes, failed } from './spans.js'

/** Seconds: from 50 µs (an embedded database answers fast) to 10 s. */
const DURATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]

export class Metrics {
  readonly #db: Annals
  readonly #meter: Meter
  readonly #duration: Histogram
  readonly #batchAppends: Histogram
  readonly #batchEvents: Histogram
  readonly #batchDuration: Histogram
  readonly #appended: Counter
  readonly #gauges: ObservableGauge[]
  readonly #observe: BatchObservableCallback

  constructor (db: Annals, meter: Meter) {
    this.#db = db
    this.#meter = meter
    this.#duration = meter.createHistogram('db.client.operation.duration', {
      unit: 's', description: 'Duration of database client operations.', advice: { explicitBucketBoundaries: DURATION_BUCKETS }
    })
    this.#batchAppends = meter.createHistogram('annals.batch.appends', {
      unit: '{append}', description: 'Appends per batch the writer committed (group commit).', advice: { explicitBucketBoundaries: SIZE_BUCKETS }
    })
    this.#batchEvents = meter.createHistogram('annals.batch.events', {
      unit: '{event}', description: 'Events per batch the writer committed.', advice: { explicitBucketBoundaries: SIZE_BUCKETS }
    })
    this.#batchDuration = meter.createHistogram('annals.batch.duration', {
      unit: 's', description: 'Time from taking a batch off the queue to the end of its write.', advice: { explicitBucketBoundaries: DURATION_BUCKETS }
    })
    this.#appended = meter.createCounter('annals.events.appended', { unit: '{event}', description: 'Events appended (written to the log).' })
    const queue = meter.createObservableGauge('annals.queue.depth', { unit: '{event}', description: 'Events waiting in the writer\'s queue.' })
    const projectionLag = meter.createObservableGauge('annals.projection.lag', { unit: '{event}', description: 'Events committed that a projection has not handled yet.' })
    const subscriptionLag = meter.createObservableGauge('annals.subscription.lag', { unit: '{event}', description: 'Events committed that a subscription has not handled yet.' })
    this.#gauges = [queue, projectionLag, subscriptionLag]
    const location = db.location
    const base: Attributes = { 'db.system.name': 'annals', ...(location === undefined ? {} : { 'db.namespace': location }) }
    this.#observe = result => {
      const stats = this.#db.stats()
      result.observe(queue, stats.queue.events, base)
      for (const p of stats.projections) result.observe(projectionLag, p.lag, { ...base, 'annals.projection.name': p.name })
      // unnamed subscriptions have nothing to tell them apart: the largest lag among them
      let unnamed: number | undefined
      for (const s of stats.subscriptions) {
        if (s.name !== undefined) result.observe(subscriptionLag, s.lag, { ...base, 'annals.subscription.name': s.name })
        else unnamed = Math.max(unnamed ?? 0, s.lag)
      }
      if (unnamed !== undefined) result.observe(subscriptionLag, unnamed, base)
    }
    meter.addBatchObservableCallback(this.#observe, this.#gauges)
  }

  /** An operation that settled: its duration, by operation, with error.type when it failed. */
  operation (m: AppendMessage | LoadMessage | ShredMessage | ReadMessage, operation: string): void {
    if (m.duration === undefined) return
    const attributes = baseAttributes(m.database, operation)
    if (m.error !== undefined) failed(undefined, attributes, m.error, m.errorCode)
    this.#duration.record(m.duration / 1000, attributes)
  }

  batch (m: BatchMessage): void {
    const attributes = baseAttributes(m.database, 'commit')
    if (m.error !== undefined) failed(undefined, attributes, m.error, m.errorCode)
    this.#batchAppends.record(m.appends, attributes)
    this.#batchEvents.record(m.events, attributes)
    this.#batchDuration.record(m.duration / 1000, attributes)
    if (m.events > 0) this.#appended.add(m.events, baseAttributes(m.database, 'append'))
  }

  stop (): void {
    this.#meter.removeBatchObservableCallback(this.#observe, this.#gauges)
  }
}
