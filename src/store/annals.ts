// The public database object. Each public method checks and normalises its arguments, then
// hands over to the layer that does the work; failures of promise-returning methods are
// rejections, never throws.
import { AnnalsError } from '../errors.js'
import type { Log } from '../log/log.js'
import { EventIterator, type ReadRange } from '../log/reader.js'
import type {
  AppendOptions, AppendResult, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent
} from '../log/types.js'
import { checkBoolean, checkCount, checkEvents, checkExpected, checkOptions, checkStream } from '../log/validate.js'
import {
  Subscription, checkSubscribeOptions, type EventHandler, type SubscribeOptions
} from '../subscriptions/subscription.js'
import { checkDefinition, type ProjectionDefinition } from '../projections/definition.js'
import { Projection } from '../projections/handle.js'
import { Projections } from '../projections/registry.js'

type Status = 'open' | 'closing' | 'closed'

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
  readonly #subscriptions = new Set<Subscription>()
  readonly #durableNames = new Set<string>()
  #projections: Projections | undefined
  #status: Status = 'open'
  #closing: Promise<void> | undefined

  /** @internal Use {@link open}. */
  constructor (log: Log) {
    this.#log = log
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
    return this.#log.storage.location
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
      const name = checkStream(stream)
      const checked = checkEvents(events)
      const o = checkOptions<AppendOptions>(options, 'append')
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
  readStream (stream: string, options?: ReadStreamOptions): AsyncIterableIterator<RecordedEvent> {
    return new EventIterator(() => {
      const name = checkStream(stream)
      return this.#log.streamChunks(name, readRange(options, 'readStream'))
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
  readAll (options?: ReadAllOptions): AsyncIterableIterator<RecordedEvent> {
    return new EventIterator(() => {
      const range = readRange(options, 'readAll')
      const types = options?.types
      if (types !== undefined && (!Array.isArray(types) || !types.every(t => typeof t === 'string'))) {
        throw new TypeError('types must be an array of strings')
      }
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
   * Registers a projection and returns its handle. The view resumes from its checkpoint; a new
   * version (or an edited handler) rebuilds it beside the stored one. An async projection
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
    return new Projection<Doc>(projected, { log: this.#log, registry, assertOpen: this.#assertOpen })
  }

  /**
   * The projections of this database, started on first use. Crypto-shredding purges views
   * through it: `rebuild(projected, true)` for registered ones, `forget(name)` for the others
   * (`storedNames()` lists them all).
   */
  #registry (): Projections {
    this.#projections ??= new Projections(this.#log)
    return this.#projections
  }

  /**
   * Closes the database: stops subscriptions and projections, writes the appends already accepted, closes
   * iterators, and closes the LevelDB it opened (a database passed as `level` stays open).
   * Idempotent.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => { void db.close() })
   * ```
   */
  async close (): Promise<void> {
    this.#closing ??= this.#close()
    await this.#closing
  }

  async #close (): Promise<void> {
    this.#status = 'closing'
    try {
      await Promise.all([
        ...[...this.#subscriptions].map(async s => await s.close()),
        this.#projections?.stop()
      ])
      // inline projections stay in the append path until the appends already accepted are written
      await this.#log.close()
      this.#projections?.detach()
    } finally {
      await this.#log.storage.close()
      this.#status = 'closed'
    }
  }

  readonly #assertOpen = (): void => {
    if (this.#status !== 'open') throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
  }
}

function readRange (options: ReadStreamOptions | undefined, what: string): ReadRange {
  const o = checkOptions<ReadStreamOptions>(options, what)
  const from = checkCount(o.from, 'from')
  const to = checkCount(o.to, 'to')
  const backwards = checkBoolean(o.backwards, 'backwards') ?? false
  const limit = checkCount(o.limit, 'limit') ?? Infinity
  return { from, to, backwards, limit }
}
