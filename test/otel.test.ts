// annals/otel: spans and metrics as the OpenTelemetry SDK's in-memory exporters receive them.
import t, { type Test } from 'tap'
import diagnosticsChannel from 'node:diagnostics_channel'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryLevel } from 'memory-level'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Context, type ContextManager } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import {
  AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData
} from '@opentelemetry/sdk-metrics'
import { CHANNELS, defineAggregate, defineProjection, open } from '../src/index.js'
import { instrument } from '../src/otel/index.js'
import { tempDir } from './helpers/backends.js'

/** A context manager for synchronous code: enough to see that a span starts under the caller's. */
class SyncContextManager implements ContextManager {
  #stack: Context[] = []
  active (): Context { return this.#stack.at(-1) ?? ROOT_CONTEXT }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>> (ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    this.#stack.push(ctx)
    try {
      return fn.call(thisArg, ...args)
    } finally {
      this.#stack.pop()
    }
  }

  bind<T> (_ctx: Context, target: T): T { return target }
  enable (): this { return this }
  disable (): this { this.#stack = []; return this }
}

function setup (t: Test): { spans: InMemorySpanExporter, tracerProvider: BasicTracerProvider, meterProvider: MeterProvider, collect: () => Promise<MetricData[]> } {
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  t.teardown(async () => { await meterProvider.shutdown(); await tracerProvider.shutdown() })
  return {
    spans,
    tracerProvider,
    meterProvider,
    async collect () {
      metrics.reset()
      await reader.forceFlush()
      return metrics.getMetrics().flatMap(r => r.scopeMetrics.flatMap(s => s.metrics))
    }
  }
}

const ev = (n: number): { type: string, data: { n: number } } => ({ type: 'Counted', data: { n } })
const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: (n: number) => n + 1, snapshotEvery: 2 })
const named = (spans: ReadableSpan[], name: string): ReadableSpan[] => spans.filter(s => s.name === name)

t.test('spans follow the database conventions: appends, reads, loads, shreds, projection batches', async t => {
  const { spans, tracerProvider, meterProvider } = setup(t)
  const { dir, remove } = tempDir()
  const location = join(dir, 'db')
  const db = await open(location)
  t.teardown(async () => { await db.close(); remove() })
  const instrumentation = instrument(db, { tracerProvider, meterProvider })
  t.teardown(() => { instrumentation.stop() })

  await db.append('a', [ev(1), ev(2)])
  await db.append('a', ev(3), { expectedRevision: 7 }).catch(() => {})
  await db.appendMany([{ stream: 'a', events: ev(4) }, { stream: 'b', events: ev(5) }])
  await db.readStream('a').toArray()
  await db.readAll({ limit: 2 }).toArray()
  await db.load(Count, 'a')
  const counter = await db.project(defineProjection({ name: 'counter', handle () {} }))
  await counter.caughtUp()
  db.definePersonalData('Registered', { subject: 'user', fields: ['email'] })
  await db.append('users', { type: 'Registered', data: { user: 'user-7', email: 'x@example.org' } })
  await db.shred('user-7')

  const done = spans.getFinishedSpans()
  const base = { 'db.system.name': 'annals', 'db.namespace': location }
  const appends = named(done, 'append a')
  t.equal(appends.length, 2)
  t.equal(appends[0]!.kind, SpanKind.CLIENT)
  t.same(appends[0]!.attributes, { ...base, 'db.operation.name': 'append', 'db.collection.name': 'a', 'annals.events': 2, 'annals.sync': false })
  t.equal(appends[0]!.status.code, SpanStatusCode.UNSET)
  t.equal(appends[1]!.status.code, SpanStatusCode.ERROR)
  t.match(appends[1]!.attributes, { 'error.type': 'ANNALS_WRONG_EXPECTED_REVISION', 'db.response.status_code': 'ANNALS_WRONG_EXPECTED_REVISION' })
  t.equal(appends[1]!.events.filter(e => e.name === 'exception').length, 1, 'the exception recorded')

  const many = named(done, `appendMany ${location}`)
  t.equal(many.length, 0, 'no target but the streams: the span is named by the operation')
  t.match(named(done, 'appendMany'), [{ attributes: { 'db.operation.name': 'appendMany', 'db.operation.batch.size': 2, 'annals.events': 2 } }])
  t.notOk('db.collection.name' in named(done, 'appendMany')[0]!.attributes, 'two streams: no collection')

  t.match(named(done, 'readStream a'), [{ kind: SpanKind.CLIENT, attributes: { ...base, 'db.operation.name': 'readStream', 'db.collection.name': 'a', 'db.response.returned_rows': 3 } }])
  t.match(named(done, 'readAll'), [{ attributes: { 'db.operation.name': 'readAll', 'db.response.returned_rows': 2 } }])
  t.match(named(done, 'load a'), [{ kind: SpanKind.CLIENT, attributes: { ...base, 'db.operation.name': 'load', 'annals.aggregate': 'count', 'annals.revision': 2, 'annals.load.folded': 3, 'annals.load.snapshot': -1 } }])
  const shred = named(done, 'shred')
  t.match(shred, [{ attributes: { ...base, 'db.operation.name': 'shred', 'annals.subjects': 1 } }])
  t.notOk(JSON.stringify(shred[0]!.attributes).includes('user-7'), 'no subject id in the span')

  const projected = named(done, 'project counter')
  t.ok(projected.length >= 1)
  t.equal(projected[0]!.kind, SpanKind.INTERNAL)
  t.equal(projected[0]!.parentSpanContext, undefined, 'a root span: no caller')
  t.equal(projected.reduce((n, s) => n + (s.attributes['annals.events'] as number), 0), 5, 'the batches cover the log')
  for (const s of [...appends, ...projected]) t.ok(s.duration[0] > 0 || s.duration[1] > 0, `${s.name} lasted`)
})

t.test("an append's span starts under the caller's, and stops with the instrumentation", async t => {
  const manager = new SyncContextManager()
  context.setGlobalContextManager(manager)
  t.teardown(() => { context.disable() })
  const { spans, tracerProvider, meterProvider } = setup(t)
  const level = new MemoryLevel()
  const db = await open({ level })
  const other = await open({ level: new MemoryLevel() })
  t.teardown(async () => { await db.close(); await other.close(); await level.close() })
  const instrumentation = instrument(db, { tracerProvider, meterProvider })

  const parent = tracerProvider.getTracer('app').startSpan('handle request')
  await context.with(trace.setSpan(context.active(), parent), async () => await db.append('a', ev(1)))
  parent.end()
  const [append] = named(spans.getFinishedSpans(), 'append a')
  t.equal(append!.parentSpanContext?.spanId, parent.spanContext().spanId)
  t.equal(append!.spanContext().traceId, parent.spanContext().traceId)
  t.notOk('db.namespace' in append!.attributes, 'no folder, no namespace')

  spans.reset()
  await other.append('a', ev(1))
  t.same(spans.getFinishedSpans(), [], 'another database is not reported')

  instrumentation.stop()
  instrumentation.stop()
  await db.append('a', ev(2))
  t.same(spans.getFinishedSpans(), [], 'nothing after stop')
  for (const name of Object.values(CHANNELS)) {
    t.notOk(diagnosticsChannel.hasSubscribers(name) || diagnosticsChannel.tracingChannel(name).hasSubscribers, `${name}: unsubscribed`)
  }
})

t.test('metrics: operation duration, batch sizes, events appended, queue depth, lags', async t => {
  const { tracerProvider, meterProvider, collect } = setup(t)
  const level = new MemoryLevel()
  const db = await open({ level })
  t.teardown(async () => { await db.close(); await level.close() })
  const instrumentation = instrument(db, { tracerProvider, meterProvider })
  t.teardown(() => { instrumentation.stop() })

  await Promise.all(Array.from({ length: 10 }, async (_, i) => await db.append(`s-${i}`, [ev(i), ev(i)])))
  await db.append('s-0', ev(0))
  await db.append('s-0', ev(0), { expectedRevision: 0 }).catch(() => {})
  const counter = await db.project(defineProjection({ name: 'counter', handle () {} }))
  await counter.caughtUp()
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  // held at position 1: it has handled position 0 of 0 to 20
  const sub = db.subscribe({ name: 'mailer' }, async e => { if (e.position === 1) await held })
  while (sub.position < 0) await new Promise(resolve => setImmediate(resolve))

  const all = await collect()
  const metric = (name: string): MetricData => {
    const m = all.find(x => x.descriptor.name === name)
    if (m === undefined) throw new Error(`no metric ${name}`)
    return m
  }
  const duration = metric('db.client.operation.duration')
  t.equal(duration.descriptor.unit, 's')
  t.equal(duration.dataPointType, DataPointType.HISTOGRAM)
  const ok = duration.dataPoints.find(p => p.attributes['db.operation.name'] === 'append' && p.attributes['error.type'] === undefined)
  const failed = duration.dataPoints.find(p => p.attributes['error.type'] === 'ANNALS_WRONG_EXPECTED_REVISION')
  t.match(ok, { attributes: { 'db.system.name': 'annals' }, value: { count: 11 } })
  t.match(failed, { attributes: { 'db.operation.name': 'append', 'db.response.status_code': 'ANNALS_WRONG_EXPECTED_REVISION' }, value: { count: 1 } })

  t.match(metric('annals.events.appended').dataPoints, [{ value: 21 }])
  const batchAppends = metric('annals.batch.appends').dataPoints
  // the ten appends of one tick in one batch, the next one alone; the failed one wrote no batch
  t.match(batchAppends, [{ value: { count: 2, sum: 11, max: 10 } }])
  t.match(metric('annals.batch.events').dataPoints, [{ value: { count: 2, sum: 21, max: 20 } }])
  t.match(metric('annals.batch.duration').dataPoints, [{ value: { count: 2 } }])
  t.match(metric('annals.queue.depth').dataPoints, [{ value: 0 }])
  t.match(metric('annals.projection.lag').dataPoints, [{ attributes: { 'annals.projection.name': 'counter' }, value: 0 }])
  t.match(metric('annals.subscription.lag').dataPoints, [{ attributes: { 'annals.subscription.name': 'mailer' }, value: 20 }])
  release()
  await sub.close()
})

t.test('instrument refuses what is not a database or an option it knows', async t => {
  const level = new MemoryLevel()
  const db = await open({ level })
  t.teardown(async () => { await db.close(); await level.close() })
  t.throws(() => instrument({} as never), TypeError)
  t.throws(() => instrument(db, { tracer: 1 } as never), TypeError)
  t.throws(() => instrument(db, { tracerProvider: {} as never }), TypeError)
  t.throws(() => instrument(db, { meterProvider: 3 as never }), TypeError)
  t.notOk(diagnosticsChannel.hasSubscribers(CHANNELS.batch), 'nothing subscribed by a refusal')
})

t.test('the core never imports @opentelemetry: only src/otel does', async t => {
  const src = fileURLToPath(new URL('../src', import.meta.url))
  const files = (function walk (dir: string): string[] {
    return readdirSync(dir).flatMap(f => statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)])
  })(src).filter(f => f.endsWith('.ts') && !f.startsWith(join(src, 'otel')))
  t.ok(files.length > 50)
  t.same(files.filter(f => readFileSync(f, 'utf8').includes('@opentelemetry')), [])
  const pkg = JSON.parse(readFileSync(join(src, '..', 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>
  t.equal(pkg.dependencies!['@opentelemetry/api'], undefined)
  t.same(pkg.peerDependenciesMeta!['@opentelemetry/api'], { optional: true })
})
