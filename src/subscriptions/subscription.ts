// Subscriptions: catch up from a position, then stay live, through one delivery loop (a
// cursor, see cursor.ts), or several for a member of a consumer group (one per slot of the
// group, see group.ts). A durable subscription runs in one process at a time; in another, a
// subscription of the same name waits on standby and takes over when the first goes away.
import { EventEmitter } from 'node:events'
import { codeOf, counted, databaseOf, subscriptionChannel, type SubscriptionMessage } from '../diagnostics/channels.js'
import type { Log } from '../log/log.js'
import type { LogFilter } from '../backend/backend.js'
import type { RecordedEvent } from '../log/types.js'
import { checkOptions, checkQuery, checkStreams, checkTypes } from '../log/validate.js'
import { Cursor } from './cursor.js'
import { layoutStart, slotCheckpoint, slotLock, slotOf } from './group.js'

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
  /**
   * Makes the subscription durable: it resumes after its last handled event, across restarts.
   * It runs in one process at a time: in another process, a subscription of the same name waits
   * on standby, and takes over from the checkpoint when the first goes away.
   */
  name?: string
  /**
   * Makes this subscription one member of a consumer group of `members` processes sharing the
   * durable subscription `name`: each stream is handled by one member (by a stable hash of its
   * name), in order; a member that goes away leaves its streams to the others, which take them
   * over from their checkpoints (see docs/processes.md).
   */
  group?: { member: number, members: number }
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
  const o = checkOptions<SubscribeOptions>(options, 'subscribe', ['from', 'types', 'tags', 'streams', 'name', 'onError', 'checkpoint', 'group'])
  const { from, name, onError, checkpoint, group } = o
  if (from !== undefined && from !== 'end' && !(Number.isSafeInteger(from) && from >= 0)) {
    throw new TypeError("from must be a non-negative integer or 'end'")
  }
  checkTypes(o.types)
  if (o.tags !== undefined) checkQuery([{ tags: o.tags }], 'tags')
  checkStreams(o.streams)
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
  if (group !== undefined) {
    const g = checkOptions<{ member: number, members: number }>(group, 'group', ['member', 'members'])
    if (!(Number.isSafeInteger(g.members) && g.members! >= 1)) throw new TypeError('group.members must be a positive integer')
    if (!(Number.isSafeInteger(g.member) && g.member! >= 0 && g.member! < g.members!)) throw new TypeError('group.member must be an integer from 0 to members - 1')
    if (name === undefined) throw new TypeError('group is for durable subscriptions (with a name)')
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
  readonly #onError: SubscribeOptions['onError']
  readonly #cursors: Cursor[]
  #failed = false
  #error: unknown
  readonly #done: Promise<void>

  /** @internal Use `db.subscribe`. */
  constructor (log: Log, options: SubscribeOptions, handler: EventHandler, release: () => void) {
    super()
    this.#log = log
    this.name = options.name
    const tags = options.tags === undefined || options.tags.length === 0 ? undefined : [...options.tags]
    const prefix = options.streams?.prefix
    // tags or a category: the log is read through the filter (by an index where there is one)
    const filter: LogFilter | undefined = tags === undefined && prefix === undefined
      ? undefined
      : {
          ...(tags === undefined ? {} : { query: [{ tags, ...(options.types === undefined ? {} : { types: [...options.types] }) }] }),
          ...(prefix === undefined ? {} : { prefix })
        }
    this.#onError = options.onError
    const types = options.types === undefined ? undefined : new Set(options.types)
    // 'end' means after what is committed now, so it is read here, not when the loop starts
    const from = options.from === 'end' ? log.head.position + 1 : options.from ?? 0
    const every = { events: options.checkpoint?.events ?? CHECKPOINT_EVENTS, ms: options.checkpoint?.ms ?? CHECKPOINT_MS }
    const fail = (err: unknown, event: RecordedEvent | undefined): void => { this.#fail(err, event) }
    const name = options.name
    const group = options.group
    if (name === undefined) {
      this.#cursors = [new Cursor({ log, from, types, filter, handler, fail })]
    } else if (group === undefined) {
      this.#cursors = [new Cursor({ log, from, types, filter, name, handler, fail, durable: { checkpoint: name, lock: `subscription:${name}`, every } })]
    } else {
      const { member, members } = group
      const start = async (): Promise<number | undefined> => await layoutStart(log.storage, name, members)
      // its own slot first, then the others, which it runs while their members are away
      const slots = Array.from({ length: members }, (_, i) => (member + i) % members)
      this.#cursors = slots.map(slot => new Cursor({
        log,
        from,
        types,
        filter,
        name,
        accepts: stream => slotOf(stream, members) === slot,
        handler,
        fail,
        durable: { checkpoint: slotCheckpoint(name, slot, members), lock: slotLock(name, slot, members), every, start, wants: slot === member, yields: slot !== member }
      }))
    }
    this.#done = Promise.all(this.#cursors.map(async c => { await c.done })).then(() => { release() })
  }

  /**
   * The position up to which the log has been handled (inclusive); -1 before any. For a group
   * member, the lowest of the slots it runs.
   */
  get position (): number {
    const running = this.#cursors.filter(c => c.running)
    const cursors = running.length > 0 ? running : this.#cursors.slice(0, 1)
    return Math.min(...cursors.map(c => c.position))
  }

  /**
   * Resolves once every event committed before this call has been handled; rejects if the
   * subscription fails or closes first. A durable subscription on standby (another process runs
   * it) resolves once it has taken over and caught up; a group member, once the slots it runs
   * have.
   */
  async caughtUp (): Promise<void> {
    const target = this.#log.head.position
    if (this.#failed) throw this.#error
    const running = this.#cursors.filter(c => c.running)
    await Promise.all((running.length > 0 ? running : this.#cursors.slice(0, 1)).map(async c => { await c.caughtUp(target) }))
  }

  /**
   * Stops delivery; resolves after the handler in progress, if any, has returned. A handler may
   * call `close()` on its own subscription, but must not await it.
   */
  async close (): Promise<void> {
    await Promise.all(this.#cursors.map(async c => { await c.close() }))
    await this.#done
  }

  #fail (err: unknown, event: RecordedEvent | undefined): void {
    if (this.#failed) return
    this.#failed = true
    this.#error = err
    if (subscriptionChannel.hasSubscribers) {
      subscriptionChannel.publish(counted<SubscriptionMessage>({
        kind: 'failed', database: databaseOf(this.#log.storage), subscription: this.name, position: event?.position ?? this.position + 1, error: err, errorCode: codeOf(err)
      }))
    }
    // one slot of a group failing stops the whole member
    for (const c of this.#cursors) void c.close()
    if (this.#onError !== undefined) this.#onError(err, event)
    else queueMicrotask(() => this.emit('error', err, event))
  }
}
