// One delivery loop of a subscription: it reads the log from the next position it has not
// handled, in chunks, and sleeps at the head until the writer commits more. The cursor is a
// position, so there is no hand-over from catch-up to live to get wrong: nothing is buffered,
// nothing skipped, nothing delivered twice, and a slow handler costs memory for one chunk at
// most.
//
// A durable cursor keeps its checkpoint in the database and runs only while it holds its lock
// (`subscription:<name>`), in whichever process: another process's cursor of the same name
// waits (standby) until the lock is freed, then resumes from the checkpoint. A cursor that
// loses its lock (its owner process went away) stops after the event in hand, writes nothing
// more, and waits to take it again. A consumer group's cursor may hand a slot it adopted back
// to the member it belongs to when that member asks (see group.ts).
import { counted, databaseOf, subscriptionChannel, type SubscriptionMessage } from '../diagnostics/channels.js'
import { AnnalsError } from '../errors.js'
import type { Lock, LogFilter } from '../backend/backend.js'
import type { Log } from '../log/log.js'
import type { RecordedEvent } from '../log/types.js'
import { Space, namedKey, readU64, u64 } from '../storage/keys.js'

/** The topic on which a group member asks for its slot back (the message: the slot's lock). */
export const WANT_TOPIC = 'subscription-want'
/** How often a cursor on standby tries its lock, besides when it hears it was freed, in ms. */
const STANDBY_POLL = 1000
/** How long a cursor that handed its slot back waits before it tries to take it again, in ms. */
const YIELD_PAUSE = 300

/** What makes a cursor durable. */
export interface Durable {
  /** the checkpoint's name (in the subscriptions' key space) */
  checkpoint: string
  lock: string
  every: { events: number, ms: number }
  /** where to start when there is no checkpoint yet (defaults to the cursor's `from`) */
  start?: () => Promise<number | undefined>
  /** asks for the lock when it is held elsewhere (a group member's own slot) */
  wants?: boolean
  /** hands the lock back when asked (a slot a group member adopted) */
  yields?: boolean
}

export interface CursorOptions {
  log: Log
  /** the first position, when not resuming from a checkpoint */
  from: number
  types: ReadonlySet<string> | undefined
  /** tags or a category: the log is read through the filter (by an index where there is one) */
  filter?: LogFilter
  /** the subscription's name, for the diagnostics channel */
  name?: string
  /** only events of the streams it accepts (a group member's slot) */
  accepts?: (stream: string) => boolean
  durable?: Durable
  handler: (event: RecordedEvent) => unknown
  /** the handler threw (or reading failed): the subscription stops */
  fail: (err: unknown, event: RecordedEvent | undefined) => void
}

export class Cursor {
  readonly #o: CursorOptions
  readonly #durable: Durable | undefined
  #next: number
  /** the next position as last written in the checkpoint, when, and events handled since */
  #saved = -1
  #savedAt = 0
  #handledSince = 0
  #failedStorage = false
  #lock: Lock | undefined
  #error: unknown
  #yielding = false
  #closed = false
  #started = false
  #wake: (() => void) | undefined
  #waiters: Array<{ target: number, resolve: () => void, reject: (err: unknown) => void }> = []
  readonly #stops: Array<() => void> = []
  readonly done: Promise<void>

  constructor (options: CursorOptions) {
    this.#o = options
    this.#durable = options.durable
    this.#next = options.from
    const backend = options.log.backend
    this.#stops.push(options.log.onCommit(() => this.#wake?.()))
    if (this.#durable?.yields === true) {
      const lock = this.#durable.lock
      this.#stops.push(backend.onNotice(WANT_TOPIC, wanted => {
        if (wanted === lock && this.#lock !== undefined) {
          this.#yielding = true
          this.#wake?.()
        }
      }))
    }
    this.done = this.#run()
  }

  /** The position up to which the log has been handled (inclusive); -1 before any. */
  get position (): number {
    return this.#next - 1
  }

  /** Whether it delivers: not durable, or holding its lock. */
  get running (): boolean {
    return this.#started && !this.#closed && (this.#durable === undefined || this.#lock !== undefined)
  }

  /** Resolves once every event up to `target` has been handled; rejects if it closes first. */
  async caughtUp (target: number): Promise<void> {
    if (this.#started && this.#next > target) return
    if (this.#closed) throw closedError()
    await new Promise<void>((resolve, reject) => this.#waiters.push({ target, resolve, reject }))
  }

  /** Stops delivery; resolves after the handler in progress, if any, has returned. */
  async close (): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      this.#wake?.()
    }
    await this.done
  }

  async #run (): Promise<void> {
    let current: RecordedEvent | undefined
    const log = this.#o.log
    try {
      if (this.#durable === undefined) this.#started = true
      while (!this.#closed) {
        if (this.#yielding) {
          await this.#yield()
          continue
        }
        if (this.#durable !== undefined && this.#lock === undefined) {
          if (!await this.#acquire()) break
          continue
        }
        const head = log.head.position
        if (this.#next > head) {
          this.#settleWaiters()
          await this.#sleep()
          continue
        }
        try {
          await this.#pass(head, e => { current = e })
          current = undefined
        } catch (err) {
          // the owner went away: another holder resumes at the checkpoint; this one waits to be it
          if (this.#durable !== undefined && (this.#lock === undefined || (err instanceof AnnalsError && err.code === 'ANNALS_OWNER_LOST'))) {
            this.#dropLock()
            continue
          }
          throw err
        }
      }
    } catch (err) {
      this.#fail(err, current)
    } finally {
      // where it stopped, handled or failed: the next run resumes there
      if (this.#lock !== undefined && !this.#failedStorage) await this.#checkpoint(true).catch(() => {})
      await this.#lock?.release().catch(() => {})
      this.#lock = undefined
      this.#closed = true
      for (const stop of this.#stops) stop()
      const error = this.#error ?? closedError()
      for (const w of this.#waiters.splice(0)) w.reject(error)
    }
  }

  /** Handles the log from the cursor up to `head`, or until it must stop. */
  async #pass (head: number, handling: (e: RecordedEvent) => void): Promise<void> {
    const { types, accepts, handler, filter } = this.#o
    const range = { from: this.#next, to: head, backwards: false, limit: Infinity }
    const chunks = filter === undefined ? this.#o.log.chunks(range) : this.#o.log.filtered(range, filter)
    try {
      for (let chunk = await chunks.next(); chunk.length > 0 && !this.#stopping(); chunk = await chunks.next()) {
        for (const event of chunk) {
          if (this.#stopping()) break
          if ((types === undefined || types.has(event.type)) && (accepts === undefined || accepts(event.stream))) {
            handling(event)
            const started = subscriptionChannel.hasSubscribers ? performance.now() : -1
            await handler(event)
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
    // the read passed over everything up to the head: what a filter does not keep, and what no
    // longer reads (removed events keep their positions, so the log's tail may be a hole)
    if (!this.#stopping()) this.#next = Math.max(this.#next, head + 1)
    await this.#checkpoint(true)
    this.#settleWaiters()
  }

  /** Tells `annals:subscription` of an event handled. */
  #handled (event: RecordedEvent, started: number): void {
    if (!subscriptionChannel.hasSubscribers) return
    const log = this.#o.log
    subscriptionChannel.publish(counted<SubscriptionMessage>({
      kind: 'handled',
      database: databaseOf(log.storage),
      subscription: this.#o.name,
      position: event.position,
      type: event.type,
      lag: Math.max(0, log.head.position - event.position),
      duration: performance.now() - started
    }))
  }

  #stopping (): boolean {
    return this.#closed || this.#yielding || (this.#durable !== undefined && this.#lock === undefined)
  }

  async #sleep (): Promise<void> {
    await new Promise<void>(resolve => {
      this.#wake = resolve
      if (this.#closed || this.#yielding) resolve()
    })
    this.#wake = undefined
  }

  /** Waits until it holds its lock (false if it closes first), then resumes from the checkpoint. */
  async #acquire (): Promise<boolean> {
    const durable = this.#durable!
    const backend = this.#o.log.backend
    for (;;) {
      if (this.#closed) return false
      const lock = await backend.tryLock(durable.lock)
      if (lock !== undefined) {
        if (this.#closed) {
          await lock.release()
          return false
        }
        this.#lock = lock
        void lock.lost.then(() => {
          if (this.#lock !== lock) return
          this.#lock = undefined
          this.#wake?.()
        })
        await this.#resume()
        this.#started = true
        return true
      }
      if (durable.wants === true) backend.notify(WANT_TOPIC, durable.lock).catch(() => {})
      await this.#freed(durable.lock, STANDBY_POLL)
    }
  }

  /** Resolves when `lock` is announced free, after `ms`, or when the cursor closes. */
  async #freed (lock: string, ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        stop()
        this.#wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      const stop = this.#o.log.backend.onNotice('lock-freed', freed => { if (freed === lock) done() })
      this.#wake = () => { if (this.#closed) done() }
    })
  }

  /** Hands the lock back (asked by the member whose slot it is): checkpoint, release, pause. */
  async #yield (): Promise<void> {
    this.#yielding = false
    const lock = this.#lock
    if (lock === undefined) return
    await this.#checkpoint(true)
    this.#lock = undefined
    await lock.release()
    await new Promise(resolve => setTimeout(resolve, YIELD_PAUSE))
  }

  /** The lock is gone (or its last write may not have been made): wait to take it again. */
  #dropLock (): void {
    const lock = this.#lock
    this.#lock = undefined
    void lock?.release().catch(() => {})
  }

  async #resume (): Promise<void> {
    const durable = this.#durable!
    const stored = await this.#o.log.storage.get(namedKey(Space.subscriptions, durable.checkpoint))
    if (stored === undefined) {
      this.#next = await durable.start?.() ?? this.#o.from
      this.#saved = -1
      return
    }
    const next = stored.length === 8 ? readU64(stored, 0) : undefined
    if (next === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The checkpoint of subscription '${durable.checkpoint}' is malformed`)
    this.#next = next
    this.#saved = next
  }

  /** Writes the checkpoint if one is due (or `now`), only if it moved, and only while it holds the lock. */
  async #checkpoint (now: boolean): Promise<void> {
    const durable = this.#durable
    if (durable === undefined || this.#lock === undefined || this.#next === this.#saved) return
    const due = now || this.#handledSince >= durable.every.events || Date.now() - this.#savedAt >= durable.every.ms ||
      (this.#handledSince === 0 && this.#next - this.#saved >= 1024)
    if (!due) return
    const next = this.#next
    try {
      await this.#o.log.storage.write([{ key: namedKey(Space.subscriptions, durable.checkpoint), value: u64(next) }], false)
    } catch (err) {
      if (!(err instanceof AnnalsError && err.code === 'ANNALS_OWNER_LOST')) this.#failedStorage = true
      throw err
    }
    this.#saved = next
    this.#savedAt = Date.now()
    this.#handledSince = 0
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
    this.#closed = true
    this.#error = err
    this.#o.fail(err, event)
  }
}

export function closedError (): AnnalsError {
  return new AnnalsError('ANNALS_NOT_OPEN', 'The subscription is closed')
}
