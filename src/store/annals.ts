// The public database object. Each public method checks and normalises its arguments, then
// hands over to the layer that does the work; failures of promise-returning methods are
// rejections, never throws.
import { Aggregates } from '../aggregates/aggregates.js'
import { checkAggregate, type Aggregate } from '../aggregates/define.js'
import { checkLoadOptions, type LoadOptions, type Loaded } from '../aggregates/target.js'
import { AnnalsError } from '../errors.js'
import type { Log } from '../log/log.js'
import { EventIterator, type EventStream, type ReadRange } from '../log/reader.js'
import type {
  AppendOptions, AppendResult, NewEvent, ReadAllOptions, ReadStreamOptions
} from '../log/types.js'
import {
  checkBoolean, checkCount, checkEvents, checkExpected, checkOptions, checkPoint, checkStream, checkTypes
} from '../log/validate.js'
import type { PersonalData } from '../privacy/declarations.js'
import type { Privacy } from '../privacy/privacy.js'
import {
  Subscription, checkSubscribeOptions, type EventHandler, type SubscribeOptions
} from '../subscriptions/subscription.js'
import { checkDefinition, type ProjectionDefinition } from '../projections/definition.js'
import { Projection } from '../projections/handle.js'
import { inlineHandlerHere } from '../projections/reentry.js'
import { Projections } from '../projections/registry.js'

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
      this.#assertOpen()
      const inline = inlineHandlerHere()
      if (inline !== undefined) {
        throw new AnnalsError('ANNALS_REENTRANT_APPEND', `append was called from the handler of inline projection '${inline}', ` +
          'which runs inside the writer: it would wait for ever for the batch the handler is part of')
      }
      const name = checkStream(stream)
      const checked = checkEvents(events, this.#maxEventSize)
      const o = checkOptions<AppendOptions>(options, 'append', APPEND_OPTIONS)
      return this.#log.append(name, checked, checkExpected(o.expectedRevision), checkBoolean(o.sync, 'sync'))
    } catch (err) {
      return Promise.reject(err)
    }
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
    }, this.#assertOpen)
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
      return this.#log.chunks(range, types === undefined ? undefined : new Set(types))
    }, this.#assertOpen)
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
    if (this.#ownKeyStore === undefined) throw new TypeError('rotateMasterKey is for the key store annals keeps in a database folder')
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
}

/** The default of close's `handlerTimeout`, in ms. */
const HANDLER_TIMEOUT = 10_000

function checkCloseOptions (options: unknown): number {
  const o = checkOptions<{ handlerTimeout?: number }>(options, 'close', ['handlerTimeout'])
  const timeout = o.handlerTimeout ?? HANDLER_TIMEOUT
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) throw new TypeError('handlerTimeout must be a number of ms, >= 0 (Infinity: wait for ever)')
  return timeout
}

const APPEND_OPTIONS = ['expectedRevision', 'sync']
const READ_STREAM_OPTIONS = ['from', 'to', 'backwards', 'limit']
const READ_ALL_OPTIONS = [...READ_STREAM_OPTIONS, 'types']

function readRange (o: Partial<ReadStreamOptions>): ReadRange {
  const from = checkPoint(o.from, 'from')
  const to = checkPoint(o.to, 'to')
  const backwards = checkBoolean(o.backwards, 'backwards') ?? false
  const limit = checkCount(o.limit, 'limit') ?? Infinity
  return { from, to, backwards, limit }
}
