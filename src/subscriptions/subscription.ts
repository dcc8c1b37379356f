// Subscriptions: catch up from a position, then stay live. One loop reads the log from the next
// position it has not handled, in chunks, and sleeps when it reaches the head until the writer
// commits more. The cursor is a position, so there is no hand-over from catch-up to live to get
// wrong: nothing is buffered, nothing skipped, nothing delivered twice, and a slow handler
// costs memory for one chunk at most.
import { EventEmitter } from 'node:events'
import { codeOf, counted, databaseOf, subscriptionChannel, type SubscriptionMessage } from '../diagnostics/channels.js'
import { AnnalsError } from '../errors.js'
import type { Log } from '../log/log.js'
import type { LogFilter } from '../backend/backend.js'
import type { RecordedEvent } from '../log/types.js'
import { checkOptions, checkQuery, checkTypes } from '../log/validate.js'
import { Space, namedKey, readU64, u64 } from '../storage/keys.js'

/**
 * Options of `subscribe`.
 *
 * @example
 * ```ts
 * const sub = db.subscribe({ name: 'mailer', types: ['UserRegistered'], onError: console.error }, sendWelcome)
 * ```
 */
export interface SubscribeOptions {
  /** First position to deliver (inclusive), or `'end'`: only events committed after `subscribe`. Default 0. */
  from?: number | 'end'
  /** Deliver only events of these types. */
  types?: readonly string[]
  /** Deliver only events carrying every one of these tags. */
  tags?: readonly string[]
  /** Deliver only events of streams whose name starts with `prefix` (a category), read by its streams where it has few. */
  streams?: { prefix: string }
  /** Makes the subscription durable: it resumes after its last handled event, across restarts. */
  name?: string
  /**
   * How often a durable subscription writes its checkpoint: once `events` events were handled
   * since the last one, or `ms` milliseconds passed (default 100 events or 1,000 ms), and
   * whenever it reaches the end of the log, fails or closes. After a crash it resumes at its
   * last checkpoint, so up to that many events are delivered again (at least once);
   * `{ events: 1 }` writes one after every event.
   */
  checkpoint?: { events?: number, ms?: number }
  /** Called when the handler throws (or reading fails); the subscription has stopped. */
  onError?: (error: unknown, event: RecordedEvent | undefined) => void
}

/**
 * Handles one event; the next is delivered once the returned promise settles. Throwing stops
 * the subscription.
 *
 * @example
 * ```ts
 * const handler: EventHandler = async event => { await mailer.send(event.data.email) }
 * ```
 */
export type EventHandler = (event: RecordedEvent) => unknown

/** Checks subscribe options; throws TypeError on misuse. */
export function checkSubscribeOptions (options: unknown): SubscribeOptions {
  const o = checkOptions<SubscribeOptions>(options, 'subscribe', ['from', 'types', 'tags', 'streams', 'name', 'onError', 'checkpoint'])
  const { from, name, onError, checkpoint } = o
  if (from !== undefined && from !== 'end' && !(Number.isSafeInteger(from) && from >= 0)) {
    throw new TypeError("from must be a non-negative integer or 'end'")
  }
  checkTypes(o.types)
  if (o.tags !== undefined) checkQuery([{ tags: o.tags }], 'tags')
  if (o.streams !== undefined) {
    const streams = checkOptions<{ prefix: string }>(o.streams, 'streams', ['prefix'])
    if (typeof streams.prefix !== 'string') throw new TypeError('streams must be { prefix: string }')
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) throw new TypeError('name must be a non-empty string')
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('onError must be a function')
  if (checkpoint !== undefined) {
    const c = checkOptions<{ events: number, ms: number }>(checkpoint, 'checkpoint', ['events', 'ms'])
    for (const key of ['events', 'ms'] as const) {
      const v = c[key]
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= (key === 'events' ? 1 : 0))) throw new TypeError(`checkpoint.${key} must be ${key === 'events' ? 'a positive' : 'a non-negative'} integer`)
    }
    if (name === undefined) throw new TypeError('checkpoint is for durable subscriptions (with a name)')
  }
  return o
}

/** Default checkpoint spacing of durable subscriptions: events, ms. */
const CHECKPOINT_EVENTS = 100
const CHECKPOINT_MS = 1000

/**
 * A running subscription. Emits `'error'` when its handler throws, unless `onError` was given;
 * like any EventEmitter, an `'error'` nobody listens to is thrown.
 *
 * @example
 * ```ts
 * const sub = db.subscribe({ from: 0 }, async event => { console.log(event.type) })
 * await sub.caughtUp()
 * await sub.close()
 * ```
 */
export class Subscription extends EventEmitter {
  /** The durable name, if any. */
  readonly name: string | undefined
  readonly #log: Log
  readonly #handler: EventHandler
  readonly #types: ReadonlySet<string> | undefined
  /** tags or a category: the log is read through the filter (by an index where there is one) */
  #filter: LogFilter | undefined
  readonly #onError: SubscribeOptions['onError']
  readonly #every: { events: number, ms: number }
  /** the next position as last written in the checkpoint, when, and events handled since */
  #saved = -1
  #savedAt = 0
  #handledSince = 0
  #failedStorage = false
  readonly #release: () => void
  #next: number
  #closed = false
  #error: unknown
  #failed = false
  #wake: (() => void) | undefined
  #waiters: Array<{ target: number, resolve: () => void, reject: (err: unknown) => void }> = []
  readonly #stopListening: () => void
  readonly #resumed: Promise<void>
  readonly #done: Promise<void>

  /** @internal Use `db.subscribe`. */
  constructor (log: Log, options: SubscribeOptions, handler: EventHandler, release: () => void) {
    super()
    this.#log = log
    this.#handler = handler
    this.name = options.name
    this.#types = options.types === undefined ? undefined : new Set(options.types)
    const tags = options.tags === undefined || options.tags.length === 0 ? undefined : [...options.tags]
    const prefix = options.streams?.prefix
    if (tags !== undefined || prefix !== undefined) {
      this.#filter = {
        ...(tags === undefined ? {} : { query: [{ tags, ...(options.types === undefined ? {} : { types: [...options.types] }) }] }),
        ...(prefix === undefined ? {} : { prefix })
      }
    }
    this.#onError = options.onError
    this.#every = { events: options.checkpoint?.events ?? CHECKPOINT_EVENTS, ms: options.checkpoint?.ms ?? CHECKPOINT_MS }
    this.#release = release
    // 'end' means after what is committed now, so it is read here, not when the loop starts
    this.#next = options.from === 'end' ? log.head.position + 1 : options.from ?? 0
    this.#stopListening = log.onCommit(() => this.#wake?.())
    this.#resumed = this.#resume()
    this.#done = this.#run()
  }

  /** The position up to which the log has been handled (inclusive); -1 before any. */
  get position (): number {
    return this.#next - 1
  }

  /**
   * Resolves once every event committed before this call has been handled; rejects if the
   * subscription fails or closes first.
   */
  async caughtUp (): Promise<void> {
    const target = this.#log.head.position
    await this.#resumed.catch(() => {})
    if (this.#failed) throw this.#error
    if (this.#next > target) return
    if (this.#closed) throw closedError()
    await new Promise<void>((resolve, reject) => this.#waiters.push({ target, resolve, reject }))
  }

  /**
   * Stops delivery; resolves after the handler in progress, if any, has returned. A handler may
   * call `close()` on its own subscription, but must not await it.
   */
  async close (): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      this.#wake?.()
    }
    await this.#done
  }

  async #run (): Promise<void> {
    let current: RecordedEvent | undefined
    try {
      await this.#resumed
      while (!this.#closed) {
        const head = this.#log.head.position
        if (this.#next > head) {
          this.#settleWaiters()
          await new Promise<void>(resolve => { this.#wake = resolve })
          this.#wake = undefined
          continue
        }
        const range = { from: this.#next, to: head, backwards: false, limit: Infinity }
        const chunks = this.#filter === undefined ? this.#log.chunks(range) : this.#log.filtered(range, this.#filter)
        try {
          for (let chunk = await chunks.next(); chunk.length > 0 && !this.#closed; chunk = await chunks.next()) {
            for (const event of chunk) {
              if (this.#closed) break
              if (this.#types === undefined || this.#types.has(event.type)) {
                current = event
                const started = subscriptionChannel.hasSubscribers ? performance.now() : -1
                await this.#handler(event)
                current = undefined
                this.#next = event.position + 1
                if (started >= 0) this.#handled(event, started)
                this.#handledSince++
                await this.#checkpoint(false)
              } else {
                this.#next = event.position + 1
              }
            }
            // filtered-out events advance the checkpoint too, so a restart does not rescan them
            await this.#checkpoint(false)
          }
        } finally {
          await chunks.close()
        }
        // a filtered read passes over what it does not keep: it has read everything up to the head
        if (this.#filter !== undefined && !this.#closed) this.#next = Math.max(this.#next, head + 1)
        await this.#checkpoint(true)
        this.#settleWaiters()
      }
    } catch (err) {
      this.#fail(err, current)
    } finally {
      // where it stopped, handled or failed: the next run resumes there
      if (!this.#failedStorage) await this.#checkpoint(true).catch(() => {})
      this.#closed = true
      this.#stopListening()
      this.#release()
      const error = this.#failed ? this.#error : closedError()
      for (const w of this.#waiters.splice(0)) w.reject(error)
    }
  }

  async #resume (): Promise<void> {
    if (this.name === undefined) return
    const stored = await this.#log.storage.get(namedKey(Space.subscriptions, this.name))
    if (stored === undefined) return
    const next = stored.length === 8 ? readU64(stored, 0) : undefined
    if (next === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The checkpoint of subscription '${this.name}' is malformed`)
    this.#next = next
    this.#saved = next
  }

  /** Writes the checkpoint if one is due (or `now`), and only if it moved. */
  async #checkpoint (now: boolean): Promise<void> {
    if (this.name === undefined || this.#next === this.#saved) return
    const due = now || this.#handledSince >= this.#every.events || Date.now() - this.#savedAt >= this.#every.ms ||
      (this.#handledSince === 0 && this.#next - this.#saved >= 1024)
    if (!due) return
    const next = this.#next
    try {
      await this.#log.storage.write([{ key: namedKey(Space.subscriptions, this.name), value: u64(next) }], false)
    } catch (err) {
      this.#failedStorage = true
      throw err
    }
    this.#saved = next
    this.#savedAt = Date.now()
    this.#handledSince = 0
  }

  /** Tells `annals:subscription` of an event handled. */
  #handled (event: RecordedEvent, started: number): void {
    if (!subscriptionChannel.hasSubscribers) return
    subscriptionChannel.publish(counted<SubscriptionMessage>({
      kind: 'handled',
      database: databaseOf(this.#log.storage),
      subscription: this.name,
      position: event.position,
      type: event.type,
      lag: Math.max(0, this.#log.head.position - event.position),
      duration: performance.now() - started
    }))
  }

  #settleWaiters (): void {
    if (this.#waiters.length === 0) return
    const handled = this.#next - 1
    this.#waiters = this.#waiters.filter(w => {
      if (w.target > handled) return true
      w.resolve()
      return false
    })
  }

  #fail (err: unknown, event: RecordedEvent | undefined): void {
    // an error caused by closing the database is not the handler's failure
    if (this.#closed && err instanceof AnnalsError && err.code === 'ANNALS_NOT_OPEN') return
    this.#failed = true
    this.#error = err
    if (subscriptionChannel.hasSubscribers) {
      subscriptionChannel.publish(counted<SubscriptionMessage>({
        kind: 'failed', database: databaseOf(this.#log.storage), subscription: this.name, position: event?.position ?? this.#next, error: err, errorCode: codeOf(err)
      }))
    }
    if (this.#onError !== undefined) this.#onError(err, event)
    else queueMicrotask(() => this.emit('error', err, event))
  }
}

function closedError (): AnnalsError {
  return new AnnalsError('ANNALS_NOT_OPEN', 'The subscription is closed')
}
