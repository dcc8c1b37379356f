// Spans from the diagnostics channels, after OpenTelemetry's conventions for database clients:
// kind CLIENT, named `{db.operation.name} {db.collection.name}` (the stream), with
// db.system.name 'annals', db.namespace (the database's folder), db.operation.name, and on
// failure error.type and db.response.status_code (the AnnalsError's code). Appends, loads and
// shreds start their span where the caller is (the tracing channel's `start` runs in the
// caller's async context), so they nest under the caller's span. Reads and projection batches
// are told once done: their spans are drawn afterwards, from the start their duration gives.
import { SpanKind, SpanStatusCode, context, type Attributes, type Span, type Tracer } from '@opentelemetry/api'
import type {
  AppendMessage, DatabaseInfo, LoadMessage, ProjectionMessage, ReadMessage, ShredMessage
} from '../diagnostics/channels.js'

export const SYSTEM = 'annals'

/** The attributes every operation of a database carries. */
export function baseAttributes (database: DatabaseInfo, operation: string): Attributes {
  const attributes: Attributes = { 'db.system.name': SYSTEM, 'db.operation.name': operation }
  if (database.location !== undefined) attributes['db.namespace'] = database.location
  return attributes
}

/** error.type and db.response.status_code of a failure, and the span's status. */
export function failed (span: Span | undefined, attributes: Attributes, error: unknown, code: string | undefined): void {
  attributes['error.type'] = code ?? (error instanceof Error ? error.constructor.name : '_OTHER')
  if (code !== undefined) attributes['db.response.status_code'] = code
  if (span === undefined) return
  span.setAttributes(attributes)
  if (error instanceof Error) span.recordException(error)
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
}

/** A span's name: the operation, and its stream (or projection) when it has one. */
function spanName (operation: string, target: string | undefined): string {
  return target === undefined ? operation : `${operation} ${target}`
}

/** The one stream an append's parts are all for, if they are. */
function oneStream (streams: readonly string[]): string | undefined {
  const first = streams[0]
  return first !== undefined && streams.every(s => s === first) ? first : undefined
}

export function appendStarted (tracer: Tracer, m: AppendMessage): Span {
  const attributes = baseAttributes(m.database, m.operation)
  const stream = oneStream(m.streams)
  if (stream !== undefined) attributes['db.collection.name'] = stream
  if (m.operation === 'appendMany' && m.streams.length > 1) attributes['db.operation.batch.size'] = m.streams.length
  attributes['annals.events'] = m.events
  attributes['annals.sync'] = m.sync
  return tracer.startSpan(spanName(m.operation, stream), { kind: SpanKind.CLIENT, attributes }, context.active())
}

export function loadStarted (tracer: Tracer, m: LoadMessage): Span {
  const attributes = baseAttributes(m.database, 'load')
  attributes['db.collection.name'] = m.stream
  attributes['annals.aggregate'] = m.aggregate
  return tracer.startSpan(spanName('load', m.stream), { kind: SpanKind.CLIENT, attributes }, context.active())
}

export function loadEnded (span: Span, m: LoadMessage): void {
  if (m.revision !== undefined) span.setAttribute('annals.revision', m.revision)
  if (m.folded !== undefined) span.setAttribute('annals.load.folded', m.folded)
  if (m.snapshot !== undefined) span.setAttribute('annals.load.snapshot', m.snapshot)
}

export function shredStarted (tracer: Tracer, m: ShredMessage): Span {
  const attributes = baseAttributes(m.database, 'shred')
  attributes['annals.subjects'] = m.subjects
  return tracer.startSpan('shred', { kind: SpanKind.CLIENT, attributes }, context.active())
}

/** A read, drawn once it ended. */
export function readSpan (tracer: Tracer, m: ReadMessage): void {
  const attributes = baseAttributes(m.database, m.operation)
  if (m.stream !== undefined) attributes['db.collection.name'] = m.stream
  attributes['db.response.returned_rows'] = m.events
  const end = performance.timeOrigin + performance.now()
  const span = tracer.startSpan(spanName(m.operation, m.stream), { kind: SpanKind.CLIENT, attributes, startTime: end - m.duration }, context.active())
  if (m.error !== undefined) failed(span, attributes, m.error, m.errorCode)
  span.end(end)
}

/** A projection's batch (handled and written), or its failure, drawn once it happened. */
export function projectionSpan (tracer: Tracer, m: ProjectionMessage): void {
  const attributes = baseAttributes(m.database, 'project')
  attributes['annals.projection.name'] = m.projection
  const end = performance.timeOrigin + performance.now()
  let start = end
  if (m.kind === 'batch') {
    start = end - m.duration
    attributes['annals.projection.mode'] = m.mode
    attributes['annals.events'] = m.events
    attributes['annals.position'] = m.position
    attributes['annals.lag'] = m.lag
  } else {
    attributes['annals.position'] = m.position
  }
  // work annals does on its own, under no caller's span
  const span = tracer.startSpan(spanName('project', m.projection), { kind: SpanKind.INTERNAL, attributes, startTime: start, root: true })
  if (m.kind === 'failed') failed(span, attributes, m.error, m.errorCode)
  span.end(end)
}
