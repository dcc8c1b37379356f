// Upcasting: events stored at an older version of their type are read at the current one, by
// running the type's steps in order (see event-declarations.ts). It happens in the log's one
// mapping step (log.ts), on every read path, before personal fields are opened: a step sees a
// personal field sealed.
//
// Versions are counted along the event, not along its type: each step adds one. A step that
// renames the event hands it on to the steps of its new type, from the version it has reached;
// so a type that events are renamed into must be declared at that version or later (else the
// read fails, ANNALS_UPCAST_FAILED: it would read as a version its type never had).
//
// A read filtered by type (readAll's `types`, a query's) filters the types as read: the backend
// is asked for the types wanted and every type that has steps (a step may rename into a wanted
// type, or out of it), and the events are filtered again once upcast.
import { createHash } from 'node:crypto'
import { AnnalsError } from '../errors.js'
import type { EventQuery } from '../backend/backend.js'
import { isWellFormed } from '../storage/exact.js'
import type { Declared, EventShape } from './event-declarations.js'
import { withExtensions } from './record.js'
import type { RecordedEvent } from './types.js'

export class Upcaster {
  /** every declared type, version 1 included (they end a rename's chain) */
  readonly #declared = new Map<string, Declared>()
  /** the declared types that have steps */
  #stepped = new Map<string, Declared>()
  #versions = ''
  #code = ''

  /** The version appends of `type` record: its declared one, 1 when undeclared. */
  version (type: string): number {
    return this.#declared.get(type)?.version ?? 1
  }

  /** Whether any type has steps: reads then go through {@link upcast}. */
  get active (): boolean {
    return this.#stepped.size > 0
  }

  /**
   * The versions of the types that have steps, `Type@version` in the order of the types'
   * names, comma-separated; '' when none. What a projection's generation records: a different
   * value rebuilds the view.
   */
  get versions (): string {
    return this.#versions
  }

  /**
   * A digest of {@link versions} and the source text of every step ('' when no type has steps):
   * what snapshots are keyed by, beside their aggregate's code.
   */
  get code (): string {
    return this.#code
  }

  /** What {@link versions} would be with these declarations in force too. */
  versionsWith (declarations: ReadonlyArray<[string, Declared]>): string {
    const all = new Map(this.#declared)
    for (const [type, d] of declarations) all.set(type, d)
    return versionsOf(all)
  }

  /** Puts declarations in force (each replaces the type's before). */
  define (declarations: ReadonlyArray<[string, Declared]>): void {
    for (const [type, d] of declarations) this.#declared.set(type, d)
    this.#stepped = new Map([...this.#declared].filter(([, d]) => d.steps.length > 0))
    this.#versions = versionsOf(this.#declared)
    const hash = createHash('sha256').update(this.#versions)
    for (const [type, d] of [...this.#stepped].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
      hash.update(`\u0000${type}`)
      for (const step of d.steps) hash.update(`\u0000${String(step)}`)
    }
    this.#code = this.#stepped.size === 0 ? '' : hash.digest('hex')
  }

  /**
   * The events read at their types' current versions, in the same order; the array given when
   * none needed a step. Events past their type's version (written by code that declares more)
   * read as they are. `ANNALS_UPCAST_FAILED` when a step throws or returns something else than
   * an event's shape.
   */
  upcast (events: RecordedEvent[]): RecordedEvent[] {
    const stepped = this.#stepped
    let out: RecordedEvent[] | undefined
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!
      const d = stepped.get(e.type)
      if (d === undefined || e.version >= d.version) continue
      (out ??= events.slice())[i] = this.#upcastOne(e, d)
    }
    return out ?? events
  }

  #upcastOne (e: RecordedEvent, first: Declared): RecordedEvent {
    let shape: EventShape = { type: e.type, data: e.data, metadata: e.metadata }
    let version = e.version
    let d: Declared | undefined = first
    while (d !== undefined && version < d.version) {
      const type = shape.type
      let out: unknown
      try {
        out = d.steps[version - 1]!(shape)
      } catch (err) {
        throw failed(e, type, version, `its step threw: ${(err as Error)?.message ?? String(err)}`, err)
      }
      shape = checkShape(out, e, type, version)
      version++
      if (shape.type !== type) {
        d = this.#declared.get(shape.type)
        const current = d?.version ?? 1
        if (version > current) {
          throw failed(e, type, version - 1, `its step renamed it to '${shape.type}' at version ${version}, but '${shape.type}' is at version ${current}: ` +
            `declare '${shape.type}' at version ${version} or later (versions count on through a rename)`)
        }
      }
    }
    // the fields of an event as read, in the order the backends make them: events upcast share
    // the shape of those that are not, and code that reads them stays monomorphic
    const event: RecordedEvent = { id: e.id, stream: e.stream, revision: e.revision, position: e.position, type: shape.type, version, data: shape.data, metadata: shape.metadata, time: e.time }
    if (e.tags !== undefined) event.tags = e.tags
    if (e.redacted !== undefined) event.redacted = e.redacted
    if (withExtensions.has(e)) withExtensions.add(event)
    return event
  }

  /**
   * The types to ask a backend for, to find the events of `types` as read: with every type that
   * has steps. Undefined when there is nothing to widen (no filter, or no steps): the backend's
   * filter is then exact.
   */
  widenTypes (types: ReadonlySet<string> | undefined): ReadonlySet<string> | undefined {
    if (types === undefined || this.#stepped.size === 0) return undefined
    return new Set([...types, ...this.#stepped.keys()])
  }

  /** The query to ask a backend for (see {@link widenTypes}); undefined when no item names types, or no type has steps. */
  widenQuery (query: EventQuery | undefined): EventQuery | undefined {
    if (query === undefined || this.#stepped.size === 0 || !query.some(item => item.types !== undefined)) return undefined
    return query.map(item => item.types === undefined ? item : { ...item, types: [...new Set([...item.types, ...this.#stepped.keys()])] })
  }
}

/** Whether an event (as read) matches a query: any item, by its types and tags. */
export function matchesQuery (e: RecordedEvent, query: EventQuery): boolean {
  if (query.length === 0) return true
  return query.some(item => (item.types === undefined || item.types.includes(e.type)) &&
    (item.tags === undefined || item.tags.every(tag => e.tags?.includes(tag) === true)))
}

function versionsOf (declared: ReadonlyMap<string, Declared>): string {
  return [...declared].filter(([, d]) => d.version > 1).map(([type]) => type).sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
    .map(type => `${type}@${declared.get(type)!.version}`).join(',')
}

/** A step's result, checked: `{ type, data, metadata }` (data absent: null; metadata absent: {}). */
function checkShape (out: unknown, e: RecordedEvent, type: string, version: number): EventShape {
  if (typeof out !== 'object' || out === null || Array.isArray(out)) {
    throw failed(e, type, version, `its step returned ${out === null ? 'null' : Array.isArray(out) ? 'an array' : typeof out}, not { type, data, metadata }`)
  }
  if (typeof (out as { then?: unknown }).then === 'function') throw failed(e, type, version, 'its step returned a promise: steps are synchronous')
  for (const key in out) {
    if (key !== 'type' && key !== 'data' && key !== 'metadata') throw failed(e, type, version, `its step returned '${key}': a step returns type, data and metadata only (id, stream, revision, position and time stay)`)
  }
  const shape = out as Partial<EventShape>
  const next = shape.type
  // a type kept as it was is checked already
  if (next !== type && (typeof next !== 'string' || next.length === 0 || Buffer.byteLength(next) > 256 || !isWellFormed(next))) {
    throw failed(e, type, version, 'its step returned no type (a string of 1 to 256 UTF-8 bytes)')
  }
  const metadata = shape.metadata ?? {}
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw failed(e, type, version, 'its step returned metadata that is not an object')
  }
  return { type: next, data: shape.data === undefined ? null : shape.data, metadata }
}

function failed (e: RecordedEvent, type: string, version: number, why: string, cause?: unknown): AnnalsError {
  const stored = type === e.type && version === e.version ? '' : ` (stored as '${e.type}' version ${e.version})`
  return new AnnalsError('ANNALS_UPCAST_FAILED',
    `Upcasting the event at position ${e.position} (stream ${e.stream}) from '${type}' version ${version} failed${stored}: ${why}`,
    { ...(cause === undefined ? {} : { cause }), details: { position: e.position, type, version } })
}
