// annals/otel: OpenTelemetry for an annals database, from its diagnostics channels. The one
// part of annals that imports @opentelemetry/api (an optional peer dependency): the core never
// does, and costs nothing while nobody listens.
import diagnosticsChannel from 'node:diagnostics_channel'
import { metrics, trace, type MeterProvider, type Span, type TracerProvider } from '@opentelemetry/api'
import {
  CHANNELS, type AppendMessage, type BatchMessage, type LoadMessage, type ProjectionMessage, type ReadMessage, type ShredMessage
} from '../diagnostics/channels.js'
import { checkOptions } from '../log/validate.js'
import { Annals } from '../store/annals.js'
import { Metrics } from './metrics.js'
import { appendStarted, failed, loadEnded, loadStarted, projectionSpan, readSpan, shredStarted } from './spans.js'

/**
 * Options of {@link instrument}: where spans and metrics go. Without them, the providers
 * registered globally with `@opentelemetry/api` (by your SDK setup).
 *
 * @example
 * ```ts
 * const options: InstrumentOptions = { tracerProvider, meterProvider }
 * ```
 */
export interface InstrumentOptions {
  tracerProvider?: TracerProvider
  meterProvider?: MeterProvider
}

/**
 * What {@link instrument} returns: `stop()` ends the instrumentation (it unsubscribes from the
 * channels and removes its gauges' callback). Idempotent.
 *
 * @example
 * ```ts
 * const instrumentation = instrument(db)
 * // ...
 * instrumentation.stop()
 * ```
 */
export interface Instrumentation {
  stop (): void
}

/** The name of the tracer and meter annals uses. */
export const INSTRUMENTATION_NAME = 'annals'

/**
 * Reports a database to OpenTelemetry: spans for appends, reads, loads, shreds and projection
 * batches, after the database client conventions (`db.system.name` 'annals', `db.operation.name`,
 * `db.collection.name`: the stream, `db.namespace`: the folder), and metrics: operation duration
 * (`db.client.operation.duration`, which holds append latency), batch sizes and durations,
 * events appended, the writer's queue depth, and projection and subscription lag. See
 * docs/observability.md for every name.
 *
 * @example
 * ```ts
 * import { open } from 'annals'
 * import { instrument } from 'annals/otel'
 *
 * const db = await open('./data')
 * const instrumentation = instrument(db)   // the global providers, or { tracerProvider, meterProvider }
 * await db.append('account-1', { type: 'Deposited', data: { amount: 10 } })
 * instrumentation.stop()
 * await db.close()
 * ```
 */
export function instrument (db: Annals, options?: InstrumentOptions): Instrumentation {
  if (!(db instanceof Annals)) throw new TypeError('instrument takes a database that open() returned')
  const o = checkOptions<InstrumentOptions>(options, 'instrument', ['tracerProvider', 'meterProvider'])
  if (o.tracerProvider !== undefined && typeof o.tracerProvider?.getTracer !== 'function') throw new TypeError('tracerProvider must be an OpenTelemetry TracerProvider')
  if (o.meterProvider !== undefined && typeof o.meterProvider?.getMeter !== 'function') throw new TypeError('meterProvider must be an OpenTelemetry MeterProvider')
  return start(db, o)
}

function start (db: Annals, o: InstrumentOptions): Instrumentation {
  const tracer = (o.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME)
  const meter = (o.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME)
  const measures = new Metrics(db, meter)
  const id = db.stats().database.id
  const spans = new WeakMap<object, Span>()
  const stops: Array<() => void> = []

  /** Subscribes to a tracing channel: a span from `start` to `asyncEnd`. */
  function traced<M extends { database: { id: number }, duration?: number, error?: unknown, errorCode?: string }> (
    name: string, started: (m: M) => Span, ended: (span: Span, m: M) => void
  ): void {
    const channel = diagnosticsChannel.tracingChannel<unknown, M>(name)
    const nothing = (): void => {}
    const handlers = {
      start: (m: M) => { if (m.database.id === id) spans.set(m, started(m)) },
      end: nothing,
      asyncStart: nothing,
      asyncEnd: (m: M) => {
        const span = spans.get(m)
        if (span === undefined) return
        spans.delete(m)
        if (m.error !== undefined) failed(span, {}, m.error, m.errorCode)
        ended(span, m)
        span.end()
      },
      error: nothing
    }
    channel.subscribe(handlers)
    stops.push(() => { channel.unsubscribe(handlers) })
  }

  /** Subscribes to a plain channel, this database's messages only. */
  function plain<M extends { database: { id: number } }> (name: string, heard: (m: M) => void): void {
    const listener = (message: unknown): void => {
      const m = message as M
      if (m.database.id === id) heard(m)
    }
    diagnosticsChannel.subscribe(name, listener)
    stops.push(() => { diagnosticsChannel.unsubscribe(name, listener) })
  }

  traced<AppendMessage>(CHANNELS.append, m => appendStarted(tracer, m), (_span, m) => { measures.operation(m, m.operation) })
  traced<LoadMessage>(CHANNELS.load, m => loadStarted(tracer, m), (span, m) => { measures.operation(m, 'load'); loadEnded(span, m) })
  traced<ShredMessage>(CHANNELS.shred, m => shredStarted(tracer, m), (_span, m) => { measures.operation(m, 'shred') })
  plain<ReadMessage>(CHANNELS.read, m => { readSpan(tracer, m); measures.operation(m, m.operation) })
  plain<BatchMessage>(CHANNELS.batch, m => { measures.batch(m) })
  plain<ProjectionMessage>(CHANNELS.projection, m => { projectionSpan(tracer, m) })

  let stopped = false
  return {
    stop () {
      if (stopped) return
      stopped = true
      for (const stop of stops) stop()
      measures.stop()
    }
  }
}
