// What the diagnostics channels cost appends: 64 concurrent callers appending one event each,
// with the channels in place and nobody subscribed, beside the same appends in the same runs
// with publishing bypassed (the switch `setPublishing(false)`, which only the benchmarks use:
// the channels' checks skipped on the append path, as before they existed). Issue 16 asks for
// at least 0.98 of that. The same runs also measure a subscriber on every channel, annals/otel
// reporting to the OpenTelemetry SDK (when it is installed: it is a dev dependency of annals),
// and raw classic-level's batches of 100, as the other append rows. The ratios to the two with
// a subscriber say what one costs: 1.05 means appends run 5% faster without one.
import diagnosticsChannel from 'node:diagnostics_channel'
import { setPublishing } from '../src/diagnostics/channels.js'
import { CHANNELS, type Annals } from '../src/index.js'
import type { Config } from './options.js'
import { appenders, onAnnals } from './appends.js'
import { eventMaker, onRaw } from './lib.js'
import type { Reference, Timing, Workload } from './measure.js'

const TRACING: readonly string[] = [CHANNELS.append, CHANNELS.load, CHANNELS.shred]

/** Subscribes a listener that does nothing to every channel; returns how to unsubscribe. */
function listenToAll (): () => void {
  const nothing = (): void => {}
  const handlers = { start: nothing, end: nothing, asyncStart: nothing, asyncEnd: nothing, error: nothing }
  const plain = Object.values(CHANNELS).filter(name => !TRACING.includes(name))
  for (const name of TRACING) diagnosticsChannel.tracingChannel(name).subscribe(handlers)
  for (const name of plain) diagnosticsChannel.subscribe(name, nothing)
  return () => {
    for (const name of TRACING) diagnosticsChannel.tracingChannel(name).unsubscribe(handlers)
    for (const name of plain) diagnosticsChannel.unsubscribe(name, nothing)
  }
}

/** annals/otel on the OpenTelemetry SDK, spans batched to an exporter that drops them; undefined without the SDK. */
async function otelInstrumenter (): Promise<((db: Annals) => () => void) | undefined> {
  try {
    const [{ instrument }, traceSdk, metricsSdk] = await Promise.all([
      import('../src/otel/index.js'), import('@opentelemetry/sdk-trace-base'), import('@opentelemetry/sdk-metrics')
    ])
    return db => {
      const drop = { export: (_spans: unknown, done: (r: { code: number }) => void) => { done({ code: 0 }) }, shutdown: async () => {} }
      const tracerProvider = new traceSdk.BasicTracerProvider({ spanProcessors: [new traceSdk.BatchSpanProcessor(drop)] })
      const reader = new metricsSdk.PeriodicExportingMetricReader({
        exporter: new metricsSdk.InMemoryMetricExporter(metricsSdk.AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000
      })
      const meterProvider = new metricsSdk.MeterProvider({ readers: [reader] })
      const instrumentation = instrument(db, { tracerProvider, meterProvider })
      return () => {
        instrumentation.stop()
        void tracerProvider.shutdown()
        void meterProvider.shutdown()
      }
    }
  } catch {
    return undefined
  }
}

/** CPU ms (user and system, every thread) that `body` took, where the last call of it puts them. */
let cpuMs = 0

function cpuTimed (body: (db: Annals) => Promise<void>): (db: Annals) => Promise<void> {
  return async db => {
    const before = process.cpuUsage()
    await body(db)
    const used = process.cpuUsage(before)
    cpuMs = (used.user + used.system) / 1000
  }
}

/** A measurement whose time is the CPU time its body took (see {@link cpuTimed}) rather than the time on the clock. */
function inCpuTime (run: () => Promise<Timing>): () => Promise<Timing> {
  return async () => {
    const t = await run()
    return { events: t.events, ms: cpuMs }
  }
}

export async function diagnosticsWorkloads (config: Config): Promise<{ workloads: Workload[], close?: () => Promise<void> }> {
  const events = config.sizes.appends
  const a = appenders(eventMaker(config.shape))
  const concurrent = a.concurrent(events)
  const otel = await otelInstrumenter()
  if (otel === undefined) process.stderr.write('no annals/otel row: the OpenTelemetry SDK, a dev dependency of annals, is not installed here\n')
  const also: Reference[] = [{
    raw: 'annals, a subscriber on every channel',
    run: onAnnals('a-diag-listened', events, false, async db => {
      const stop = listenToAll()
      try { await concurrent(db) } finally { stop() }
    })
  }]
  if (otel !== undefined) {
    also.push({
      raw: 'annals, instrumented by annals/otel',
      run: onAnnals('a-diag-otel', events, false, async db => {
        const stop = otel(db)
        try { await concurrent(db) } finally { stop() }
      })
    })
  }
  also.push({ raw: 'raw classic-level, batch of 100', run: onRaw('raw-diag-batch', events, a.rawBatches(events, false)) })
  const bypassed = async (db: Annals): Promise<void> => {
    setPublishing(false)
    try { await concurrent(db) } finally { setPublishing(true) }
  }
  return {
    workloads: [{
      name: 'append 1 event, 64 concurrent, no diagnostics subscriber',
      unit: 'events',
      raw: 'annals, publishing bypassed',
      target: 0.98,
      annals: onAnnals('a-diag-none', events, false, concurrent),
      baseline: onAnnals('a-diag-bypassed', events, false, bypassed),
      also
    }, {
      // the time the process spent on the CPU (every thread: LevelDB's writes too), which other
      // processes on a shared machine disturb less than the time on the clock
      name: 'the same appends in CPU time: no diagnostics subscriber',
      unit: 'events',
      raw: 'annals, publishing bypassed, in CPU time',
      target: 0.98,
      annals: inCpuTime(onAnnals('a-diag-none-cpu', events, false, cpuTimed(concurrent))),
      baseline: inCpuTime(onAnnals('a-diag-bypassed-cpu', events, false, cpuTimed(bypassed))),
      also: [{
        raw: 'annals, a subscriber on every channel, in CPU time',
        run: inCpuTime(onAnnals('a-diag-listened-cpu', events, false, cpuTimed(async db => {
          const stop = listenToAll()
          try { await concurrent(db) } finally { stop() }
        })))
      }]
    }]
  }
}
