// The public database object. Each public method checks and normalises its arguments, then
// hands over to the layer that does the work; failures of promise-returning methods are
// rejections, never throws.
import { Aggregates } from '../aggregates/aggregates.js'
import { checkAggregate, type Aggregate } from '../aggregates/define.js'
import { checkLoadOptions, type LoadOptions, type Loaded } from '../aggregates/target.js'
import { AnnalsError } from '../errors.js'
import { checkEventDeclaration, type EventDeclaration } from '../log/event-declarations.js'
import type { Log } from '../log/log.js'
import { EventIterator, traceRead, type EventStream, type ReadRange } from '../log/reader.js'
import type {
  AppendManyOptions, AppendManyPart, AppendOptions, AppendResult, ExpectedRevision, NewEvent, ReadAllOptions, ReadOptions, ReadResult, ReadStreamOptions
} from '../log/types.js'
import {
  checkBoolean, checkCondition, checkCount, checkEvents, checkExpected, checkOptions, checkPoint, checkQuery, checkStream, checkStreams, checkTypes
} from '../log/validate.js'
import type { PendingEvent } from '../log/validate.js'
import type { PersonalData } from '../privacy/declarations.js'
import type { Privacy } from '../privacy/privacy.js'
import {
  Subscription, checkSubscribeOptions, type EventHandler, type SubscribeOptions
} from '../subscriptions/subscription.js'
import { checkDefinition, type ProjectionDefinition } from '../projections/definition.js'
import { Projection } from '../projections/handle.js'
import { scavengeHistory } from '../projections/history.js'
import type { StreamSummary } from '../backend/backend.js'
import { inlineHandlerHere } from '../projections/reentry.js'
import { Projections } from '../projections/registry.js'
import { collectStats, type Stats } from './stats.js'

type Status = 'open' | 'closing' | 'closed'

/** The key store annals made for a database, which it closes, and whose master key it rotates. */
export interface OwnKeyStore {
  rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void>
  close (): Promise<void>
}

/**
 * An open annals database. Get one from {@link open}.
 *
 * @example
 * ```ts
 * const db = await open('./data')
 * await db.append('account-1', { type: 'Deposited', data: { amount: 10 } })
 * for await (const event of db.readStream('account-1')) console.log(event.type, event.data)
 * await db.close()
 * ```
 */
export class Annals {
  readonly #log: Log
  readonly #privacy: Privacy
  /** the key store annals made, and closes */
  readonly #ownKeyStore: OwnKeyStore | undefined
  /** the `maxEventSize` of `open`: appends whose data alone is larger fail before encoding */
  readonly #maxEventSize: number
  readonly #aggregates: Aggregates
  readonly #subscriptions = new Set<Subscription>()
  readonly #durableNames = new Set<string>()
  #projections: Projections | undefined
  #status: Status = 'open'
  #closing: Promise<void> | undefined

  /** @internal Use {@link open}. */
  constructor (log: Log, privacy: Privacy, ownKeyStore: OwnKeyStore | undefined, maxEventSize: number) {
    this.#log = log
    this.#privacy = privacy
    this.#ownKeyStore = ownKeyStore
    this.#maxEventSize = maxEventSize
    this.#aggregates = new Aggregates(log, async value => await privacy.openValue(value))
  }

  /**
   * `'open'`, `'closing'` or `'closed'`.
   *
   * @example
   * ```ts
   * if (db.status === 'open') await db.append('s', { type: 'Ping' })
   * ```
   */
  get status (): Status {
    return this.#status
  }

  /**
   * The folder of a database opened from a path; undefined for one opened on a given `level`.
   *
   * @example
   * ```ts
   * console.log(`events are kept in ${db.location ?? 'memory'}`)
   * ```
   */
  get location (): string | undefined {
    return this.#log.backend.location
  }

  /**
   * `'owner'` when this process writes the database's appends (it holds the folder, or the
   * database was opened on a `level`), `'client'` when another process that holds the folder
   * does (see docs/processes.md). A client becomes the owner when the owner goes away.
   *
   * @example
   * ```ts
   * const db = await open('./data')
   * console.log(db.role) // 'client' while another process has ./data open
   * ```
   */
  get role (): 'owner' | 'client' {
    return this.#log.backend.role ?? 'owner'
  }

  /**
   * Appends one event or several, atomically, to the end of `stream`. Resolves with the revision
   * and position of the last event written.
   *
   * @example
   * ```ts
   * const { revision } = await db.append('account-1', [
   *   { type: 'Deposited', data: { amount: 10 } },
   *   { type: 'Withdrawn', data: { amount: 3 } }
   * ], { expectedRevision: 'no_stream' })
   * ```
   */
  append (stream: string, events: NewEvent | readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    // not async: one promise per append rather than two, on the hottest path there is
    try {
      this.#assertAppendable()
      const name = checkWritableStream(stream)
      const checked = checkUserTypes(checkEvents(events, this.#maxEventSize))
      const o = checkOptions<AppendOptions>(options, 'append', APPEND_OPTIONS)
      return this.#log.append(name, checked, checkExpected(o.expectedRevision), checkBoolean(o.sync, 'sync'), checkCondition(o.condition))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Appends to several streams at once, atomically: all of it is written, or none of it. Each
   * part's `expectedRevision` is checked (a failure names the part's stream, what it expected and
   * what it found, as the error's `stream`, `expected` and `actual`); a `condition` is checked
   * as for `append`. Resolves with one result per part, in order.
   *
   * @example
   * ```ts
   * await db.appendMany([
   *   { stream: 'account-1', events: { type: 'Withdrawn', data: { amount: 30 } }, expectedRevision: 4 },
   *   { stream: 'account-2', events: { type: 'Deposited', data: { amount: 30 } }, expectedRevision: 'stream_exists' }
   * ])
   * ```
   */
  appendMany (parts: readonly AppendManyPart[], options?: AppendManyOptions): Promise<AppendResult[]> {
    try {
      this.#assertAppendable()
      if (!Array.isArray(parts)) throw new TypeError('appendMany takes an array of { stream, events, expectedRevision }')
      if (parts.length === 0) throw new AnnalsError('ANNALS_INVALID_EVENT', 'appendMany needs at least one part')
      const checked = parts.map((part: unknown, i) => {
        const p = checkOptions<AppendManyPart>(part, `appendMany's part ${i}`, MANY_PART_FIELDS)
        if (typeof part !== 'object' || part === null) throw new TypeError(`appendMany's part ${i} must be an object`)
        return { stream: checkWritableStream(p.stream), events: checkUserTypes(checkEvents(p.events, this.#maxEventSize)), expected: checkExpected(p.expectedRevision) }
      })
      const o = checkOptions<AppendManyOptions>(options, 'appendMany', ['sync', 'condition'])
      return this.#log.appendMany(checked, checkBoolean(o.sync, 'sync'), checkCondition(o.condition))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * The events matching a query (any of its items: an item matches events of one of its
   * `types` carrying all of its `tags`), past `after`, in position order, and the head of the
   * log when it read: the `after` to give an append's condition, so that the append fails if
   * anything matching was written since (the Dynamic Consistency Boundary model).
   *
   * @example
   * ```ts
   * const query = [{ types: ['StudentEnrolled'], tags: ['course:3'] }]
   * const { events, head } = await db.read({ query })
   * if (events.length < 30) {
   *   await db.append('enrolments', { type: 'StudentEnrolled', data: { student: 7 }, tags: ['course:3', 'student:7'] },
   *     { condition: { failIfEventsMatch: query, after: head } })
   * }
   * ```
   */
  async read (options: ReadOptions): Promise<ReadResult> {
    this.#assertOpen()
    const o = checkOptions<ReadOptions>(options, 'read', ['query', 'after', 'limit'])
    if (typeof options !== 'object' || options === null) throw new TypeError('read takes { query, after, limit }')
    const query = checkQuery(o.query, 'query')
    const after = o.after
    if (after !== undefined && !(Number.isSafeInteger(after) && after >= -1)) throw new TypeError('after must be a position (an integer >= -1)')
    const limit = checkCount(o.limit, 'limit') ?? Infinity
    const head = this.#log.head.position
    const events = await new EventIterator(() => this.#log.filtered({ from: (after ?? -1) + 1, to: head, backwards: false, limit }, { query }), this.#assertOpen,
      traceRead(this.#log.database, 'read', undefined, options)).toArray()
    return { events, head }
  }

  /**
   * Reads one stream in revision order (or backwards), streaming from disk.
   *
   * @example
   * ```ts
   * for await (const e of db.readStream('account-1', { from: 10, limit: 5 })) console.log(e.revision)
   * ```
   */
  readStream (stream: string, options?: ReadStreamOptions): EventStream {
    return new EventIterator(() => {
      const name = checkStream(stream)
      return this.#log.streamChunks(name, readRange(checkOptions<ReadStreamOptions>(options, 'readStream', READ_STREAM_OPTIONS)))
    }, this.#assertOpen, traceRead(this.#log.database, 'readStream', stream, options))
  }

  /**
   * Reads the whole log in position order (or backwards), optionally only some types.
   *
   * @example
   * ```ts
   * for await (const e of db.readAll({ types: ['PhotoAdded'], limit: 100 })) console.log(e.position, e.stream)
   * ```
   */
  readAll (options?: ReadAllOptions): EventStream {
    return new EventIterator(() => {
      const o = checkOptions<ReadAllOptions>(options, 'readAll', READ_ALL_OPTIONS)
      const range = readRange(o)
      const types = checkTypes(o.types)
      const tags = o.tags === undefined ? undefined : checkQuery([{ tags: o.tags }], 'tags')[0]!.tags
      const prefix = checkStreams(o.streams)
      // no types (`types: []`) match nothing, whatever the tags or streams (in a query item an
      // empty list of types means any type: it is not made one)
      if ((tags === undefined && prefix === undefined) || types?.length === 0) return this.#log.chunks(range, types === undefined ? undefined : new Set(types))
      const query = tags === undefined && types === undefined ? undefined : [{ ...(types === undefined ? {} : { types: [...types] }), ...(tags === undefined ? {} : { tags }) }]
      return this.#log.filtered(range, { ...(query === undefined ? {} : { query }), ...(prefix === undefined ? {} : { prefix }) })
    }, this.#assertOpen, traceRead(this.#log.database, 'readAll', undefined, options))
  }

  /**
   * The revision of the last event of `stream`, or -1 when the stream does not exist.
   *
   * @example
   * ```ts
   * const revision = await db.revision('account-1')
   * await db.append('account-1', event, { expectedRevision: revision })
   * ```
   */
  async revision (stream: string): Promise<number> {
    this.#assertOpen()
    return await this.#log.revision(checkStream(stream))
  }

  /**
   * The last committed position and its commit time; position -1 (time 0) when the log is empty.
   *
   * @example
   * ```ts
   * const { position, time } = await db.head()
   * ```
   */
  async head (): Promise<{ position: number, time: number }> {
    this.#assertOpen()
    const { position, time } = this.#log.head
    return { position, time }
  }

  /**
   * The streams, in the byte order of their names, with their last revision and the position
   * and commit time of that event: those whose name starts with `prefix`, after the stream
   * `after`, at most `limit`. Streams that read nothing any more (tombstoned, or deleted and not
   * written since) are not listed.
   *
   * @example
   * ```ts
   * for await (const { stream, revision } of db.streams({ prefix: 'cart-', limit: 100 })) console.log(stream, revision)
   * ```
   */
  streams (options?: { prefix?: string, after?: string, limit?: number }): AsyncIterable<StreamSummary> {
    const o = checkOptions<{ prefix: string, after: string, limit: number }>(options, 'streams', ['prefix', 'after', 'limit'])
    if (o.prefix !== undefined && typeof o.prefix !== 'string') throw new TypeError('prefix must be a string')
    if (o.after !== undefined && typeof o.after !== 'string') throw new TypeError('after must be a stream name')
    const limit = checkCount(o.limit, 'limit') ?? Infinity
    this.#assertOpen()
    const backend = this.#log.backend
    const assertOpen = this.#assertOpen
    return {
      async * [Symbol.asyncIterator] () {
        for await (const s of backend.streams({ prefix: o.prefix ?? '', after: o.after, limit })) {
          assertOpen()
          yield s
        }
      }
    }
  }

  /**
   * Deletes a stream, softly: its events read no more (reads of it give nothing), `revision`
   * still says where it ended, and an append re-creates it with revisions going on from there.
   * Recorded as a `$StreamDeleted` event in the system stream `$streams`. `expectedRevision` is
   * checked as for an append. Resolves with the system event's revision and position.
   *
   * @example
   * ```ts
   * await db.deleteStream('cart-1', { expectedRevision: 4 })
   * ```
   */
  async deleteStream (stream: string, options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult> {
    this.#assertAppendable()
    const o = checkOptions<{ expectedRevision: ExpectedRevision }>(options, 'deleteStream', ['expectedRevision'])
    return await this.#log.lifecycle({ kind: 'delete', stream: checkWritableStream(stream), expected: checkExpected(o.expectedRevision) })
  }

  /**
   * Deletes a stream for good: it reads nothing, and every append to it fails with
   * `ANNALS_STREAM_DELETED`. Recorded as a `$StreamTombstoned` event in `$streams`.
   *
   * @example
   * ```ts
   * await db.tombstoneStream('cart-2')
   * ```
   */
  async tombstoneStream (stream: string, options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult> {
    this.#assertAppendable()
    const o = checkOptions<{ expectedRevision: ExpectedRevision }>(options, 'tombstoneStream', ['expectedRevision'])
    return await this.#log.lifecycle({ kind: 'tombstone', stream: checkWritableStream(stream), expected: checkExpected(o.expectedRevision) })
  }

  /**
   * Removes a stream's revisions below `before`: they read no more (a truncation only ever moves
   * forwards). Recorded as a `$StreamTruncated` event in `$streams`.
   *
   * @example
   * ```ts
   * await db.truncateStream('cart-3', { before: 100 })
   * ```
   */
  async truncateStream (stream: string, options: { before: number }): Promise<AppendResult> {
    this.#assertAppendable()
    const o = checkOptions<{ before: number }>(options, 'truncateStream', ['before'])
    if (!Number.isSafeInteger(o.before) || o.before! < 0) throw new TypeError('before must be a revision (an integer >= 0)')
    return await this.#log.lifecycle({ kind: 'truncate', stream: checkWritableStream(stream), before: o.before! })
  }

  /**
   * Sets a stream's retention: it keeps its newest `maxCount` events, and those younger than
   * `maxAge` ms; older ones read no more. A name ending in `*` sets it for every stream whose
   * name starts with what comes before (`'user-*'`); a stream's own setting wins over its
   * category's. `{}` clears it. Recorded as a `$StreamMetadataSet` event in `$streams`.
   *
   * @example
   * ```ts
   * await db.setStreamMetadata('cart-4', { maxCount: 1000 })
   * await db.setStreamMetadata('user-*', { maxAge: 90 * 86400_000 })
   * ```
   */
  async setStreamMetadata (stream: string, metadata: { maxCount?: number, maxAge?: number }): Promise<AppendResult> {
    this.#assertAppendable()
    const o = checkOptions<{ maxCount: number, maxAge: number }>(metadata, 'setStreamMetadata', ['maxCount', 'maxAge'])
    if (typeof metadata !== 'object' || metadata === null) throw new TypeError('setStreamMetadata takes { maxCount, maxAge }')
    for (const key of ['maxCount', 'maxAge'] as const) {
      const v = o[key]
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) throw new TypeError(`${key} must be an integer >= 0`)
    }
    const retention = o.maxCount === undefined && o.maxAge === undefined ? undefined : { ...(o.maxCount === undefined ? {} : { maxCount: o.maxCount }), ...(o.maxAge === undefined ? {} : { maxAge: o.maxAge }) }
    if (typeof stream === 'string' && stream.endsWith('*')) {
      return await this.#log.lifecycle({ kind: 'category-retention', prefix: stream.slice(0, -1), retention })
    }
    return await this.#log.lifecycle({ kind: 'retention', stream: checkWritableStream(stream), retention })
  }

  /**
   * Takes out of the database's files what no longer reads: the events of deleted, truncated,
   * expired and archived streams (their records, their copies in the streams' blocks, their id
   * and tag index entries), the snapshots of streams that lost their first events, and the view
   * history their changes wrote. The database stays in use meanwhile; memory stays flat; a crash
   * in the middle loses nothing, and the next scavenge finishes it. Resolves with how many events
   * were removed from the files.
   *
   * @example
   * ```ts
   * await db.deleteStream('cart-1')
   * const { removed } = await db.scavenge()
   * ```
   */
  async scavenge (options?: { onProgress?: (done: number, total: number) => void }): Promise<{ removed: number, snapshots: number, history: number }> {
    this.#assertOpen()
    const o = checkOptions<{ onProgress: (done: number, total: number) => void }>(options, 'scavenge', ['onProgress'])
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError('onProgress must be a function')
    // the removed positions, one bit each, for the view history they wrote
    const head = this.#log.head.position
    const bits = new Uint8Array(Math.ceil((head + 1) / 8))
    const report = await this.#log.backend.scavenge(o.onProgress, positions => {
      for (const p of positions) if (p <= head) bits[p >> 3]! |= 1 << (p & 7)
    })
    const snapshots = await this.#aggregates.scavenge()
    const history = await scavengeHistory(this.#log.storage, p => p <= head && (bits[p >> 3]! & 1 << (p & 7)) !== 0)
    // last, so that no byte of what went is left in the files
    await this.#log.backend.compact()
    return { removed: report.removed, snapshots, history }
  }

  /**
   * The state of an aggregate for one stream: now, or `at` a past revision of the stream, global
   * position or moment. Resolves with the state and the revision and position of the last event
   * folded into it; a stream without events (then) gives the initial state, revision -1 and
   * position -1. Starts from the newest snapshot it can use and folds the events after it; with
   * `snapshotEvery`, writes the snapshots it folds past, in the background.
   *
   * @example
   * ```ts
   * const { state, revision } = await db.load(Account, 'account-1')
   * const lastWeek = await db.load(Account, 'account-1', { at: { time: Date.now() - 7 * 24 * 3600 * 1000 } })
   * const tenth = await db.load(Account, 'account-1', { at: { revision: 9 } })
   * ```
   */
  load<State> (aggregate: Aggregate<State>, stream: string, options?: LoadOptions): Promise<Loaded<State>> {
    try {
      this.#assertOpen()
      const checked = checkAggregate(aggregate) as Aggregate<State>
      return this.#aggregates.load(checked, checkStream(stream), checkLoadOptions(options))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Deletes every snapshot that none of the aggregates in `keep` can use: those of older
   * versions, of other code, of aggregates no longer defined. Snapshots are a cache, so this
   * changes no answer; pass every aggregate you still load. Resolves with the number deleted.
   *
   * @example
   * ```ts
   * const deleted = await db.pruneSnapshots([Account, Album])
   * ```
   */
  pruneSnapshots (keep: readonly Aggregate[]): Promise<number> {
    try {
      this.#assertOpen()
      if (!Array.isArray(keep)) throw new TypeError('pruneSnapshots takes an array of the aggregates whose snapshots to keep')
      return this.#aggregates.prune(keep.map(checkAggregate))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Delivers events from a position (default 0) in log order, then new ones as they are
   * committed, awaiting `handler` before the next. With `name`, the subscription is durable:
   * it resumes after its last handled event, across restarts.
   *
   * @example
   * ```ts
   * const sub = db.subscribe({ name: 'mailer', types: ['UserRegistered'] }, async event => {
   *   await sendWelcomeMail(event.data.email)
   * })
   * sub.on('error', err => console.error('mailer stopped', err))
   * ```
   */
  subscribe (options: SubscribeOptions, handler: EventHandler): Subscription
  subscribe (handler: EventHandler): Subscription
  subscribe (a: SubscribeOptions | EventHandler, b?: EventHandler): Subscription {
    const [options, handler] = typeof a === 'function' ? [{}, a] : [checkSubscribeOptions(a), b]
    if (typeof handler !== 'function') throw new TypeError('subscribe needs a handler function')
    this.#assertOpen()
    const name = options.name
    if (name !== undefined) {
      if (this.#durableNames.has(name)) {
        throw new AnnalsError('ANNALS_ALREADY_SUBSCRIBED', `The subscription '${name}' is already running; close it first`)
      }
      this.#durableNames.add(name)
    }
    const sub: Subscription = new Subscription(this.#log, options, handler, () => {
      this.#subscriptions.delete(sub)
      if (name !== undefined) this.#durableNames.delete(name)
    })
    this.#subscriptions.add(sub)
    return sub
  }

  /**
   * Declares the personal fields of an event type, and whose they are: from now on, appends of
   * that type seal those fields with the subject's key before anything is written, and reads
   * open them (or give null once the subject is shredded). Needs a key store. The declaration
   * is stored in the database, merged with the one stored for the type (fields only widen), and
   * in force for every process that opens it later; another subject than the stored one throws
   * `ANNALS_DECLARATION_CONFLICT` (see docs/privacy.md).
   *
   * @example
   * ```ts
   * db.definePersonalData('UserRegistered', { subject: 'userId', fields: ['email', 'name', 'address.street'] })
   * ```
   */
  definePersonalData (type: string, spec: PersonalData): void {
    this.#assertOpen()
    this.#privacy.declare(type, spec)
  }

  /**
   * Declares the schema version of an event type, and the steps that bring events stored at
   * older versions up to it (`upcast[v]` from version v to v + 1): the same as the `events`
   * option of `open`. From now on, appends of that type record this version, and every read
   * (streams, the log, subscriptions, loads, projections) gives older events upcast, with
   * `version` saying which they are read as. A `TypeError` for a malformed declaration, and for
   * one that changes the versions in force once a projection is registered: views are built
   * with the versions in force when they are registered, so declare before `project`. See
   * docs/evolution.md.
   *
   * @example
   * ```ts
   * db.defineEvent('PhotoAdded', { version: 2, upcast: { 1: e => ({ ...e, data: { ...e.data, tags: [] } }) } })
   * ```
   */
  defineEvent (type: string, declaration: EventDeclaration): void {
    this.#assertOpen()
    const declared = checkEventDeclaration(type, declaration)
    const upcaster = this.#log.upcaster
    if ((this.#projections?.size ?? 0) > 0 && upcaster.versionsWith([[type, declared]]) !== upcaster.versions) {
      throw new TypeError(`defineEvent('${type}') changes the versions in force after projections were registered, which were built with the old ones: ` +
        'declare event versions before db.project (or with the events option of open)')
    }
    upcaster.define([[type, declared]])
  }

  /**
   * Forgets data subjects: erases their keys, so that every personal field sealed for them, in
   * events, views and snapshots, reads as null from then on (events list the paths in
   * `redacted`). Shredding twice, or a subject that never existed, is fine.
   *
   * @example
   * ```ts
   * await db.shred('user-7')
   * await db.shred(['user-8', 'user-9'])
   * ```
   */
  async shred (subjects: string | readonly string[]): Promise<void> {
    this.#assertOpen()
    const list = typeof subjects === 'string' ? [subjects] : subjects
    if (!Array.isArray(list) || !list.every(s => typeof s === 'string' && s.length > 0)) {
      throw new TypeError('shred takes a subject id or an array of them (non-empty strings)')
    }
    await this.#privacy.shred(list)
  }

  /**
   * Re-wraps every subject key of the database's own key store under a new master key (or,
   * with `undefined`, stores them unwrapped). Open the database with the old key first.
   *
   * @example
   * ```ts
   * const db = await open('./data', { masterKey: oldKey })
   * await db.rotateMasterKey(newKey)
   * ```
   */
  async rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void> {
    this.#assertOpen()
    if (this.#ownKeyStore === undefined) throw new TypeError('rotateMasterKey is for the key store annals keeps in a database folder or schema')
    await this.#ownKeyStore.rotateMasterKey(masterKey)
  }

  /**
   * Registers a projection and returns its handle. The view resumes from its checkpoint; a new
   * version rebuilds it beside the stored one (an edited handler under the same version only
   * warns, `ANNALS_PROJECTION_CHANGED`). An async projection
   * resolves at once and catches up in the background; an inline one resolves once current.
   *
   * @example
   * ```ts
   * const PhotosPerUser = defineProjection<number>({
   *   name: 'photos-per-user',
   *   types: ['PhotoAdded'],
   *   async handle (event, view) { view.put(event.stream, (await view.get(event.stream) ?? 0) + 1) }
   * })
   * const photos = await db.project(PhotosPerUser)
   * await photos.caughtUp()
   * console.log(await photos.get('user-7'))
   * ```
   */
  async project<Doc = any> (definition: ProjectionDefinition<Doc>): Promise<Projection<Doc>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    this.#assertOpen()
    const def = checkDefinition(definition)
    const registry = this.#registry()
    const projected = await registry.register(def)
    return new Projection<Doc>(projected, { log: this.#log, registry, assertOpen: this.#assertOpen, open: async value => await this.#privacy.openValue(value) })
  }

  /**
   * The database's figures now, for people without OpenTelemetry (`annals/otel` reports the
   * same as metrics): appends and events written, batches and their sizes, append latency
   * (mean, p50, p99 over the last 1,024 appends), the writer's queue, the head, and the
   * position and lag of each projection and subscription. Synchronous and cheap; after `close`
   * it gives the figures as the database left them.
   *
   * @example
   * ```ts
   * const stats = db.stats()
   * console.log(stats.appends.count, stats.appends.latency.p99, stats.queue.events)
   * for (const p of stats.projections) if (p.lag > 1000) console.warn(`${p.name} lags by ${p.lag} events`)
   * ```
   */
  stats (): Stats {
    return collectStats(this.#log, this.#projections?.registered() ?? [], this.#subscriptions)
  }

  /** The projections of this database, started on first use. */
  #registry (): Projections {
    this.#projections ??= new Projections(this.#log)
    return this.#projections
  }

  /**
   * Closes the database: stops subscriptions and projections, writes the appends already
   * accepted, closes iterators, and closes the LevelDB it opened (a database passed as `level`
   * stays open). Idempotent (the options of the first call hold).
   *
   * It waits for projection handlers still running, `handlerTimeout` ms at most (default
   * 10,000; `Infinity` waits for ever): then it abandons those that have not settled. An append
   * waiting for an abandoned inline handler fails with `ANNALS_HANDLER_ABANDONED` and writes
   * nothing; an abandoned async projection resumes at its checkpoint next time. A process
   * warning with that code names them.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => { void db.close({ handlerTimeout: 5000 }) })
   * ```
   */
  close (options?: { handlerTimeout?: number }): Promise<void> {
    let handlerTimeout: number
    try {
      handlerTimeout = checkCloseOptions(options)
    } catch (err) {
      return Promise.reject(err)
    }
    this.#closing ??= this.#close(handlerTimeout)
    return this.#closing
  }

  async #close (handlerTimeout: number): Promise<void> {
    this.#status = 'closing'
    const cancel = this.#projections?.abandonAfter(handlerTimeout)
    try {
      await Promise.all([
        ...[...this.#subscriptions].map(async s => await s.close()),
        this.#projections?.stop()
      ])
      // inline projections stay in the append path until the appends already accepted are written
      await this.#log.flush()
      cancel?.()
      await this.#projections?.detach()
      await this.#aggregates.close()
      // declarations made with definePersonalData are stored even if nothing they seal was appended
      await this.#privacy.saved()
    } finally {
      cancel?.()
      await this.#log.close()
      await this.#ownKeyStore?.close()
      this.#status = 'closed'
    }
  }

  readonly #assertOpen = (): void => {
    if (this.#status !== 'open') throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
  }

  /** Open, and not called from an inline projection's handler (which runs inside the writer). */
  #assertAppendable (): void {
    this.#assertOpen()
    const inline = inlineHandlerHere()
    if (inline !== undefined) {
      throw new AnnalsError('ANNALS_REENTRANT_APPEND', `append was called from the handler of inline projection '${inline}', ` +
        'which runs inside the writer: it would wait for ever for the batch the handler is part of')
    }
  }
}

/** The default of close's `handlerTimeout`, in ms. */
const HANDLER_TIMEOUT = 10_000

function checkCloseOptions (options: unknown): number {
  const o = checkOptions<{ handlerTimeout?: number }>(options, 'close', ['handlerTimeout'])
  const timeout = o.handlerTimeout ?? HANDLER_TIMEOUT
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) throw new TypeError('handlerTimeout must be a number of ms, >= 0 (Infinity: wait for ever)')
  return timeout
}

const APPEND_OPTIONS = ['expectedRevision', 'sync', 'condition']
const MANY_PART_FIELDS = ['stream', 'events', 'expectedRevision']
const READ_STREAM_OPTIONS = ['from', 'to', 'backwards', 'limit']
const READ_ALL_OPTIONS = [...READ_STREAM_OPTIONS, 'types', 'tags', 'streams']

/** A stream an application may write to or change: `$` begins the names of annals' system streams. */
function checkWritableStream (stream: unknown): string {
  const name = checkStream(stream)
  if (name.startsWith('$')) throw new AnnalsError('ANNALS_INVALID_EVENT', `Stream names that begin with $ are annals' own ('${name}')`)
  return name
}

/** Events an application may append: `$` begins the types of annals' system events. */
function checkUserTypes (events: readonly PendingEvent[]): PendingEvent[] {
  for (const [i, e] of events.entries()) {
    if (e.type.startsWith('$')) throw new AnnalsError('ANNALS_INVALID_EVENT', `Event ${i}'s type begins with $, which annals keeps for its own events ('${e.type}')`)
  }
  return events as PendingEvent[]
}

/** The prefix of `streams: { prefix }`, checked. */
function readRange (o: Partial<ReadStreamOptions>): ReadRange {
  const from = checkPoint(o.from, 'from')
  const to = checkPoint(o.to, 'to')
  const backwards = checkBoolean(o.backwards, 'backwards') ?? false
  const limit = checkCount(o.limit, 'limit') ?? Infinity
  return { from, to, backwards, limit }
}
