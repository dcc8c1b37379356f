// A train: members at the same position, moved along the log together by one loop, from one
// read of the log. Catch-up then live, like a subscription: the cursor is a position, so the
// hand-over from past to live has nothing to get wrong. Each chunk of up to 1,024 events is
// handled by every member, event by event, and then one batch holds all their view changes and
// their new checkpoints: after any crash, each view holds exactly the events before its
// checkpoint. A member whose handler throws stops at that event; the event's own writes are
// dropped, the others' are kept with a checkpoint at that event, and the others go on.
//
// New members start trains of their own (one that is behind must not hold back those that are
// live); trains that reach the head at the same position merge, so projections that follow the
// log live share one read of it.
import { AnnalsError } from '../errors.js'
import type { Log } from '../log/log.js'
import type { RecordedEvent } from '../log/types.js'
import type { WriteOp } from '../storage/storage.js'
import type { Member } from './member.js'
import { projectionChannel } from '../diagnostics/channels.js'
import { failedError, tellBatch } from './projected.js'
import { closeWindow, openWindow } from './reentry.js'

export interface Failure { member: Member, position: number, error: AnnalsError }

/** What a train needs from the registry. */
export interface TrainHost {
  readonly log: Log
  /** Adds to `ops` the writes that swap in `member`, a rebuilt generation caught up at `next`. */
  swap (member: Member, next: number, ops: WriteOp[]): void
  /** A chunk's batch is written: members moved to `next`; some failed, some were swapped in. */
  written (members: Member[], swapped: Member[], failures: Failure[]): void
  /** The train is at the head, waiting: a chance to merge with others. */
  idle (train: Train): void
  /** The train's loop has ended. */
  ended (train: Train): void
}

export class Train {
  readonly #host: TrainHost
  #members: Member[]
  #next: number
  #idle = false
  #stopped = false
  #wake: (() => void) | undefined
  readonly done: Promise<void>

  constructor (host: TrainHost, members: Member[], next: number) {
    this.#host = host
    this.#members = []
    this.#next = next
    this.#take(members)
    // started on a microtask, so that the registry has it in its list before it runs
    this.done = Promise.resolve().then(async () => { await this.#run() })
  }

  /** The next position its members handle. */
  get next (): number {
    return this.#next
  }

  /** Its members now. */
  get members (): readonly Member[] {
    return this.#prune()
  }

  /** Waiting at the head, between chunks. */
  get idle (): boolean {
    return this.#idle
  }

  /** Moves `other`'s members, at the same position, onto this train; `other` then ends. */
  absorb (other: Train): void {
    // only its members still: one stopped or replaced (a rebuild's old generation) stays so
    this.#take(other.#prune())
    other.#members = []
    other.wake()
    this.wake()
  }

  /** Adds members at this train's position; only while it is idle. */
  add (members: Member[]): void {
    this.#take(members)
    this.wake()
  }

  wake (): void {
    this.#wake?.()
  }

  stop (): void {
    this.#stopped = true
    this.wake()
  }

  #take (members: Member[]): void {
    for (const m of members) {
      m.owner = 'train'
      m.train = this
      this.#members.push(m)
    }
  }

  /** Drops members that are no longer this train's (stopped, handed over, moved). */
  #prune (): Member[] {
    this.#members = this.#members.filter(m => m.owner === 'train' && m.train === this)
    return this.#members
  }

  async #run (): Promise<void> {
    const log = this.#host.log
    try {
      while (!this.#stopped && this.#prune().length > 0) {
        const head = log.head.position
        if (this.#next <= head) {
          await this.#pass(head)
          continue
        }
        if (await this.#swapAtHead()) continue
        this.#idle = true
        this.#host.idle(this)
        if (this.#prune().length > 0) {
          await new Promise<void>(resolve => {
            this.#wake = resolve
            // a commit may have come while it merged
            if (this.#stopped || this.#next <= log.head.position) resolve()
          })
        }
        this.#wake = undefined
        this.#idle = false
      }
    } catch (err) {
      // reading or writing failed, or a handler was abandoned: every member stops where its
      // checkpoint is
      const error = err instanceof AnnalsError ? err : new AnnalsError('ANNALS_STORAGE', String(err), { cause: err })
      const closing = this.#stopped && (error.code === 'ANNALS_NOT_OPEN' || error.code === 'ANNALS_HANDLER_ABANDONED')
      for (const m of this.#members) {
        m.changes.reset(false)
        // the owner went away: not a failure of the projection, which another run resumes at its checkpoint
        if (!closing && error.code !== 'ANNALS_OWNER_LOST' && !m.projected.following) m.projected.fail(m, m.record.next, error)
      }
    } finally {
      this.#host.ended(this)
    }
  }

  /**
   * Swaps in the rebuilt generations that are at the head without having handled a chunk (a
   * rebuild of an empty log): a pass swaps in those it brings to the head with its last chunk,
   * so these are the only ones left. Says whether it swapped any.
   */
  async #swapAtHead (): Promise<boolean> {
    const members = this.#prune().filter(m => m.building)
    if (members.length === 0) return false
    const ops: WriteOp[] = []
    for (const m of members) this.#host.swap(m, this.#next, ops)
    await this.#host.log.storage.write(ops, false)
    this.#host.written(members, members, [])
    return true
  }

  /** Handles the log from the train's position up to `head`. */
  async #pass (head: number): Promise<void> {
    const chunks = this.#host.log.chunks({ from: this.#next, to: head, backwards: false, limit: Infinity }, undefined, true)
    let ahead: Promise<RecordedEvent[]> | undefined
    try {
      for (let chunk = await chunks.next(); chunk.length > 0; chunk = await ahead) {
        // the next chunk is read while this one is handled and written (reads change nothing)
        ahead = chunks.next()
        ahead.catch(() => {}) // awaited below, unless the pass ends first
        const members = this.#members.slice()
        const work = this.#chunk(members, chunk, head)
        for (const m of members) m.inflight = work
        await work
        if (this.#stopped || this.#prune().length === 0) return
      }
    } finally {
      await ahead?.catch(() => {})
      await chunks.close()
    }
    // the events after the last one read up to the head no longer read (removed events keep
    // their positions): the members pass over them, as over a chunk without events
    if (this.#next <= head) await this.#chunk(this.#members.slice(), [], head)
  }

  /** Handles a chunk (none: passes over positions up to `head` that no longer read). */
  async #chunk (members: Member[], chunk: RecordedEvent[], head: number): Promise<void> {
    const started = projectionChannel.hasSubscribers ? performance.now() : -1
    const before = started >= 0 ? members.map(m => m.record.next) : undefined
    const failures: Failure[] = []
    // inline handlers run in a window of their own (reentry.ts)
    const window = members.some(m => m.inline)
    if (window) openWindow()
    try {
      await this.#handle(members, chunk, failures)
    } finally {
      if (window) closeWindow()
    }
    const end = chunk.length === 0 ? head + 1 : chunk[chunk.length - 1]!.position + 1
    // a projection whose lock was lost meanwhile writes nothing more: another process runs it now
    if (members.some(m => m.projected.following)) {
      for (const m of members) if (m.projected.following) m.changes.reset(false)
      members = members.filter(m => !m.projected.following)
      if (members.length === 0) return
    }
    const ops: WriteOp[] = []
    const swapped: Member[] = []
    const nexts = members.map(m => {
      const next = failures.find(f => f.member === m)?.position ?? end
      m.changes.emit(ops)
      ops.push(m.checkpoint(next))
      // a rebuilt view that reached the head as this pass saw it is swapped in by the same batch
      if (next === end && m.building && end > head && m.owner !== 'stopped') {
        this.#host.swap(m, end, ops)
        swapped.push(m)
      }
      return next
    })
    await this.#host.log.storage.write(ops, false)
    members.forEach((m, i) => {
      m.changes.reset(true)
      m.record = { ...m.record, next: nexts[i]! }
      m.stored = nexts[i]!
    })
    this.#next = end
    if (before !== undefined) members.forEach((m, i) => { tellBatch(this.#host.log, m, nexts[i]! - before[i]!, started) })
    this.#host.written(members, swapped, failures)
  }

  /** Every member handles the chunk's events, in order; those that fail are left out after. */
  async #handle (members: Member[], chunk: RecordedEvent[], failures: Failure[]): Promise<void> {
    let live = members
    for (const event of chunk) {
      for (let i = 0; i < live.length; i++) {
        const m = live[i]!
        if (!m.wants(event)) continue
        try {
          const pending = m.handle(event)
          if (pending !== undefined) await pending
        } catch (err) {
          // closing, and its handler never settled: nothing of this chunk is written
          if (err === m.abandoned) throw err
          failures.push({ member: m, position: event.position, error: failedError(m.projected.name, event.position, err) })
          live = live.filter(x => x !== m)
          i--
        }
      }
    }
  }
}
