// The time slider: the moment it points at (a position of the log, or a commit time), an
// aggregate's state then (`db.load` with `at`), a view's documents then (`view.at`), and what
// the next event changed in each, as the replay command's diff.
import { AnnalsError } from '../errors.js'
import { toJsonValue } from '../cli/json-value.js'
import { changes, pathText, plain } from '../cli/state-diff.js'
import { prefixEnd } from '../cli/view.js'
import type { RecordedEvent } from '../log/types.js'
import type { ProjectionView } from '../projections/handle.js'
import type { AggregateAt, ChangeRow, Json, Moment, NextChange, ViewAt } from './api-types.js'
import type { Reader } from './data.js'

/** The slider's moment: after the event at a position of the log, or at a moment (ms since the epoch). */
export type At = { position: number } | { time: number }

/** A request for something the page was not given: an unknown aggregate or view (404). */
export class NotFound extends Error {
  override get name (): string {
    return 'NotFound'
  }
}

/**
 * The position of the last event committed at or before `time` (-1 when none is): commit times
 * never decrease with position, so a binary search of point reads finds it.
 */
export async function positionAt (reader: Reader, time: number, headPosition: number): Promise<number> {
  let lo = -1
  let hi = headPosition
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2)
    const e = await reader.eventAt(mid)
    if (e === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The record at position ${mid} is missing`)
    if (e.time <= time) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** The moment `at` points at, as a position of the log and its commit time. */
export async function momentOf (reader: Reader, at: At): Promise<Moment> {
  const head = await reader.head()
  const position = 'position' in at ? Math.min(at.position, head.position) : await positionAt(reader, at.time, head.position)
  return { position, time: (await reader.eventAt(position))?.time ?? null, head }
}

/**
 * The aggregate `name` folded over `stream` as it was at `at`, loaded with `db.load` (from its
 * snapshots, as the application and `annals at` load it), and the stream's next event with what
 * it changed in the state.
 */
export async function aggregateAt (reader: Reader, name: string, stream: string, at: At): Promise<AggregateAt> {
  const aggregate = reader.aggregates.get(name)
  if (aggregate === undefined) throw new NotFound(`No aggregate named '${name}' was given (with --aggregate)`)
  const db = reader.db
  const loaded = await db.load(aggregate, stream, { at })
  const time = loaded.revision < 0 ? null : (await first(db.readStream(stream, { from: loaded.revision, limit: 1 })))?.time ?? null
  const nextEvent = await first(db.readStream(stream, { from: loaded.revision + 1, limit: 1 }))
  const before = plain(loaded.state)
  let next: NextChange | null = null
  if (nextEvent !== undefined) {
    const after = await db.load(aggregate, stream, { at: { revision: nextEvent.revision } })
    next = { event: (await reader.rows([nextEvent]))[0]!, changes: changeRows(before, plain(after.state), 'state') }
  }
  return { aggregate: name, stream, revision: loaded.revision, position: loaded.position, time, state: toJsonValue(before) as Json, next }
}

/** Events the projection handles that `viewAt` looks through for the next change. */
export const SEEK = 200

/**
 * The documents of the view `name` as it was at `at` (those whose key starts with `prefix`, at
 * most `limit`), read with `view.at`; and the next event that changed those documents (the
 * keys up to the last one shown), looked for among the next 200 events the projection handles.
 */
export async function viewAt (reader: Reader, name: string, at: At, prefix: string, limit: number): Promise<ViewAt> {
  const running = reader.views.get(name)
  if (running === undefined) throw new NotFound(`No projection named '${name}' was given (with --module)`)
  const { definition, projection } = running
  const past = await projection.at(at)
  const range = { gte: prefix === '' ? undefined : prefix, lt: prefix === '' ? undefined : prefixEnd(prefix) }
  const docs = await documents(past, { ...range, limit: limit + 1 })
  const more = docs.length > limit
  const shown = docs.slice(0, limit)
  // the same keys after each event: up to the last one shown when more follow
  const same = more ? { gte: range.gte, lte: shown.at(-1)![0] } : { ...range, limit: limit + 1 }
  const before = Object.fromEntries(shown)
  const types = definition.types === undefined ? undefined : [...definition.types]
  let next: NextChange | null = null
  let looked = 0
  for await (const e of reader.db.readAll({ from: past.position + 1, types, limit: SEEK })) {
    looked++
    const found = changeRows(before, Object.fromEntries(await documents(await projection.at({ position: e.position }), same)), 'view')
    if (found.length > 0) {
      next = { event: (await reader.rows([e]))[0]!, changes: found }
      break
    }
  }
  return { view: name, position: past.position, docs: shown.map(([key, doc]) => ({ key, doc: toJsonValue(doc) as Json })), more, next, looked }
}

/** Documents of a past view, made plain (Maps as objects, Sets as arrays), as the state diff takes them. */
async function documents (view: ProjectionView, range: { gte?: string, lt?: string, lte?: string, limit?: number }): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = []
  for await (const [key, doc] of view.query(range)) out.push([key, plain(doc)])
  return out
}

/** The changes from `before` to `after`, as the replay command words them, values tagged as JSON. */
function changeRows (before: unknown, after: unknown, root: string): ChangeRow[] {
  return changes(before, after).map(c => ({
    op: c.op,
    path: pathText(c.path, root),
    ...'from' in c ? { from: toJsonValue(c.from) as Json } : {},
    ...'to' in c ? { to: toJsonValue(c.to) as Json } : {}
  }))
}

async function first (events: AsyncIterable<RecordedEvent>): Promise<RecordedEvent | undefined> {
  for await (const e of events) return e
  return undefined
}
