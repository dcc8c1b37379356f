// The checks every backend makes of an append as it joins a batch, whatever it stores: expected
// revisions, idempotent retries by id, and append conditions against the events placed earlier
// in the same batch. The backends differ in where the state they check against comes from (the
// level writer's one process; PostgreSQL's rows, read under its lock).
import { AnnalsError } from '../errors.js'
import type { AppendResult, ExpectedRevision, RecordedEvent } from '../log/types.js'
import { decode, encodeData } from '../storage/codec.js'
import { sealedEvents, type AppendCondition, type AppendManyRequest, type AppendPart, type EventQuery, type QueryItem } from './backend.js'

/** An event with an id, stored before or placed earlier in the batch being built: what a retry is compared with. */
export interface Placed {
  stream: string
  revision: number
  position: number
  type: string
  data: Buffer
  metadata: Buffer | undefined
  tags: readonly string[] | undefined
  /** for sealed events, a digest of the content as the caller gave it (empty when none) */
  digest: Buffer
}

/** Fails with ANNALS_WRONG_EXPECTED_REVISION unless `current` is what `expected` allows. */
export function checkExpected (stream: string, expected: ExpectedRevision, current: number): void {
  const ok = expected === 'any' ||
    (expected === 'no_stream' && current === -1) ||
    (expected === 'stream_exists' && current >= 0) ||
    expected === current
  if (!ok) {
    throw new AnnalsError('ANNALS_WRONG_EXPECTED_REVISION',
      `Stream '${stream}' is at revision ${current}; the append expected ${String(expected)}`,
      { details: { stream, expected, actual: current } })
  }
}

/**
 * If every event of every part of an append is already stored (in `found`) or placed earlier
 * in the batch being built (in `placed`), in its part's stream, with the same content, in the
 * same order: the results of the original, and whether they wait for the batch being built.
 * Undefined when none is. Anything in between is `ANNALS_DUPLICATE_ID`.
 */
export function retriedMany (parts: readonly AppendPart[], found: ReadonlyMap<string, Placed>, placed: ReadonlyMap<string, Placed>): { results: AppendResult[], pending: boolean } | undefined {
  let matches = 0
  let total = 0
  const seen = new Set<string>()
  for (const part of parts) {
    for (const e of part.events) {
      total++
      if (!e.indexed || e.fresh) continue
      if (seen.has(e.id)) throw duplicate(`The id '${e.id}' appears twice in one append`)
      seen.add(e.id)
      if (placed.has(e.id) || found.has(e.id)) matches++
    }
  }
  if (matches === 0) return undefined
  if (matches < total) throw duplicate('Some events of this append are already stored and some are not')
  const results: AppendResult[] = []
  let pending = false
  for (const part of parts) {
    let last: Placed | undefined
    for (const e of part.events) {
      const p = placed.get(e.id)
      const at = p ?? found.get(e.id)!
      const same = at.stream === part.stream && at.type === e.type && (last === undefined || at.revision > last.revision) &&
        sameTags(at.tags, e.tags) &&
        (e.digest !== undefined ? at.digest.equals(e.digest) : sameData(at.data, e.data) && sameBytes(at.metadata, e.metadata))
      if (!same) throw duplicate(`The id '${e.id}' is already stored with other content, stream or order`)
      last = at
      pending ||= p !== undefined
    }
    results.push({ revision: last!.revision, position: last!.position, ids: part.events.map(e => e.id) })
  }
  return { results, pending }
}

/** The type and tags of an event placed in a batch, for the conditions of the appends after it. */
export interface PlacedMeta {
  type: string
  tags: readonly string[] | undefined
}

/**
 * Fails with ANNALS_APPEND_CONDITION_FAILED, naming the first conflicting position, if an
 * event matching the condition's query is past its `after`: stored (`stored`, found before the
 * batch was built), or placed earlier in this batch (`placed`, from position `first` on).
 */
export function checkCondition (condition: AppendCondition, stored: number | undefined, placed: readonly PlacedMeta[], first: number): void {
  let conflict = stored
  if (conflict === undefined) {
    const from = Math.max(0, (condition.after ?? -1) + 1 - first)
    for (let i = from; i < placed.length; i++) {
      if (matchesQuery(condition.failIfEventsMatch, placed[i]!.type, placed[i]!.tags)) {
        conflict = first + i
        break
      }
    }
  }
  if (conflict !== undefined) {
    throw new AnnalsError('ANNALS_APPEND_CONDITION_FAILED',
      `An event matching the append's condition is at position ${conflict}, past ${condition.after === undefined ? 'the start of the log' : `position ${condition.after}`}`,
      { details: { position: conflict } })
  }
}

/**
 * How many appends of a group its first batch takes: all of them, unless a change to a stream's
 * life comes before an append with a condition. A batch's conditions are searched for against
 * the rules as they were before it, so such an append waits for the next batch, where it sees
 * what the change hides, as if the two had come one after the other.
 */
export function firstBatch (group: ReadonlyArray<{ append: AppendManyRequest }>): number {
  const change = group.findIndex(q => q.append.lifecycle !== undefined)
  if (change < 0) return group.length
  for (let i = change + 1; i < group.length; i++) if (group[i]!.append.condition !== undefined) return change + 1
  return group.length
}

/** The events of an append as they are stored, for the hook. */
export function storedEvents (parts: readonly AppendPart[], currents: readonly number[], position: number, time: number): RecordedEvent[] {
  const out: RecordedEvent[] = []
  parts.forEach((part, k) => {
    part.events.forEach((e, i) => {
      const event: RecordedEvent = {
        id: e.id,
        stream: part.stream,
        revision: currents[k]! + 1 + i,
        position: position++,
        type: e.type,
        version: e.version,
        data: e.value?.data ?? decode(e.data) ?? null,
        metadata: e.value?.metadata ?? (e.metadata === undefined ? {} : decode(e.metadata) as Record<string, unknown>),
        time
      }
      if (e.tags !== undefined && e.tags.length > 0) event.tags = [...e.tags]
      if (e.sealed) sealedEvents.add(event)
      out.push(event)
    })
  })
  return out
}

/** Whether an event of `type` carrying `tags` matches an item. */
export function matchesItem (item: QueryItem, type: string, tags: readonly string[] | undefined): boolean {
  if (item.types !== undefined && item.types.length > 0 && !item.types.includes(type)) return false
  if (item.tags !== undefined) for (const tag of item.tags) if (tags === undefined || !tags.includes(tag)) return false
  return true
}

/** Whether an event matches a query: any item; a query without items matches every event. */
export function matchesQuery (query: EventQuery, type: string, tags: readonly string[] | undefined): boolean {
  if (query.length === 0) return true
  for (const item of query) if (matchesItem(item, type, tags)) return true
  return false
}

function sameTags (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? []
  const y = b ?? []
  return x.length === y.length && x.every((tag, i) => tag === y[i])
}

function sameBytes (a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.equals(b)
}

function duplicate (message: string): AnnalsError {
  return new AnnalsError('ANNALS_DUPLICATE_ID', message)
}

/**
 * Whether stored data holds the same value as data encoded now: the same bytes, or the same
 * once both are encoded again, for data of two layouts (events' data took the column layout in
 * format 3; a client of an older version sends maps).
 */
function sameData (stored: Buffer, now: Buffer): boolean {
  if (stored.equals(now)) return true
  try {
    return encodeData(decode(stored)).equals(encodeData(decode(now)))
  } catch {
    return false
  }
}
