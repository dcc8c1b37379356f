/**
 * An event to append. Only `type` is required.
 *
 * @example
 * ```ts
 * const event: NewEvent = { type: 'PhotoAdded', data: { photoId: 'p1', title: 'Dunes' }, id: 'cmd-42/0' }
 * await db.append('user-7', event)
 * ```
 */
export interface NewEvent<Type extends string = string, Data = unknown> {
  /** What happened, in the past tense: `'PhotoAdded'`. 1 to 256 UTF-8 bytes. */
  type: Type
  /** The event's payload: plain objects, arrays, strings, numbers, booleans, null, Dates, bytes, bigints. Absent means `null`. */
  data?: Data
  /** Facts about the event rather than the domain (who, correlation ids). A plain object. */
  metadata?: Record<string, unknown>
  /**
   * A unique id (1 to 256 UTF-8 bytes). Give one to make retries idempotent; without one, annals
   * generates a UUIDv7.
   */
  id?: string
  /**
   * Tags: what the event is about, for reads and append conditions across streams
   * (`'course:3'`, `'user:7'`). Up to 64, each 1 to 256 UTF-8 bytes.
   */
  tags?: readonly string[]
}

/**
 * An event as stored in the log and read back.
 *
 * @example
 * ```ts
 * for await (const event of db.readStream('user-7')) {
 *   console.log(event.revision, event.position, event.type, event.version, new Date(event.time))
 * }
 * ```
 */
export interface RecordedEvent<Type extends string = string, Data = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The event's id: the one given at append, or a generated UUIDv7. */
  id: string
  /** The stream it belongs to. */
  stream: string
  /** Its place in its stream, from 0. */
  revision: number
  /** Its place in the whole log, from 0, without gaps. */
  position: number
  type: Type
  /**
   * The schema version of its type it is read as: the type's current version when the type
   * declares upcast steps (an event stored at an older one went through them), else the version
   * it was appended at (1 for types never declared). See docs/evolution.md.
   */
  version: number
  data: Data
  /** Always an object; `{}` when none was given. */
  metadata: Record<string, unknown>
  /** Commit time in ms since the epoch, assigned by the store; never decreases with position. */
  time: number
  /** The event's tags; absent when it has none. */
  tags?: string[]
  /** Paths of personal fields that were shredded and read as `null`. Absent when none. */
  redacted?: string[]
}

/**
 * What an append expects of its stream: the revision of its last event (`-1` for none), `'any'`,
 * `'no_stream'` or `'stream_exists'`.
 *
 * @example
 * ```ts
 * const expectedRevision: ExpectedRevision = await db.revision('cart-9')
 * await db.append('cart-9', { type: 'ItemAdded', data: { sku: 'A1' } }, { expectedRevision })
 * ```
 */
export type ExpectedRevision = number | 'any' | 'no_stream' | 'stream_exists'

/**
 * Options of `append`.
 *
 * @example
 * ```ts
 * await db.append('account-1', events, { expectedRevision: 4, sync: true })
 * ```
 */
export interface AppendOptions {
  /** Checked atomically with the write; a mismatch is `ANNALS_WRONG_EXPECTED_REVISION`. Default `'any'`. */
  expectedRevision?: ExpectedRevision
  /** Durable on disk (fsync) before the append resolves. Default: the database's `sync` option. */
  sync?: boolean
  /**
   * Fails the append with `ANNALS_APPEND_CONDITION_FAILED` if an event matching the query is
   * at a position past `after` (at all, without `after`): checked with the write, atomically.
   */
  condition?: AppendCondition
}

/**
 * One item of a query: an event matches it when its type is one of `types` (any type without
 * them) and it carries all of `tags` (any tags without them).
 *
 * @example
 * ```ts
 * const item: QueryItem = { types: ['StudentEnrolled'], tags: ['course:3'] }
 * ```
 */
export interface QueryItem {
  types?: readonly string[]
  tags?: readonly string[]
}

/**
 * An append condition (the Dynamic Consistency Boundary model): the append fails if any event
 * matching `failIfEventsMatch` (any of its items) is stored at a position past `after`.
 *
 * @example
 * ```ts
 * const { events, head } = await db.read({ query })
 * await db.append('enrolments', event, { condition: { failIfEventsMatch: query, after: head } })
 * ```
 */
export interface AppendCondition {
  failIfEventsMatch: readonly QueryItem[]
  /** The position the decision was made at (a read's `head`); without it, any match fails the append. */
  after?: number
}

/**
 * The result of an append: revision and position of the last event written, and the ids of
 * the events it wrote (given or generated).
 *
 * @example
 * ```ts
 * const { revision, position, ids } = await db.append('account-1', { type: 'Opened' })
 * ```
 */
export interface AppendResult {
  revision: number
  position: number
  ids: string[]
}

/**
 * One part of `appendMany`: events for one stream, and what it expects of the stream.
 *
 * @example
 * ```ts
 * const part: AppendManyPart = { stream: 'account-1', events: [{ type: 'Withdrawn', data: { amount: 5 } }], expectedRevision: 3 }
 * ```
 */
export interface AppendManyPart {
  stream: string
  events: NewEvent | readonly NewEvent[]
  expectedRevision?: ExpectedRevision
}

/**
 * Options of `appendMany`.
 *
 * @example
 * ```ts
 * await db.appendMany(parts, { sync: true })
 * ```
 */
export interface AppendManyOptions {
  sync?: boolean
  condition?: AppendCondition
}

/**
 * Options of `read`: the events matching a query, after a position.
 *
 * @example
 * ```ts
 * const { events, head } = await db.read({ query: [{ types: ['Enrolled'], tags: ['course:3'] }] })
 * ```
 */
export interface ReadOptions {
  /** Any item matching keeps an event; no items keep every event. */
  query: readonly QueryItem[]
  /** Only events past this position. */
  after?: number
  /** The most events returned. */
  limit?: number
}

/**
 * What `read` gives: the events matching, and the head of the log when it read (the position
 * to give a condition's `after`, even when nothing matched).
 *
 * @example
 * ```ts
 * const { events, head } = await db.read({ query })
 * ```
 */
export interface ReadResult {
  events: RecordedEvent[]
  head: number
}

/**
 * Options of `readStream`. `from` and `to` are inclusive revisions; with `backwards`, `from` is
 * the highest revision read and `to` the lowest.
 *
 * @example
 * ```ts
 * for await (const e of db.readStream('account-1', { backwards: true, limit: 10 })) console.log(e.revision)
 * ```
 */
export interface ReadStreamOptions {
  from?: number
  to?: number
  backwards?: boolean
  /** The most events returned. */
  limit?: number
}

/**
 * Options of `readAll`: like {@link ReadStreamOptions} over positions, and `types` to keep only
 * events of those types (`limit` counts the events kept).
 *
 * @example
 * ```ts
 * for await (const e of db.readAll({ from: 100, types: ['PhotoAdded'] })) console.log(e.position)
 * ```
 */
export interface ReadAllOptions extends ReadStreamOptions {
  types?: readonly string[]
  /** Only events carrying every one of these tags. */
  tags?: readonly string[]
  /** Only events of streams whose name starts with `prefix` (a category). */
  streams?: { prefix: string }
}
