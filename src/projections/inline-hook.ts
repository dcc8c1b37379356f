// Inline projections in the append path. The log has one hook slot (log/hooks.ts); this hook
// runs every inline projection in it. For each append that passed its checks, each attached
// member handles the append's events, and their view changes and checkpoints join the append's
// batch. If a handler throws, the append fails alone with ANNALS_PROJECTION_FAILED and none of
// its writes are added, for any projection. Writes of earlier appends of the same batch are
// not in the database yet: members read them from their own layers until the batch settles.
//
// The view writes and checkpoints go into the batch once, at its end (`finish`): one document
// and one history block per key changed, and a checkpoint per projection whose view changed.
// A batch that changed nothing in a view writes its checkpoint only once the one in the
// database is CHECKPOINT_LAG events behind (and close writes it): a projection of rare events
// neither writes a checkpoint per batch nor handles the whole log again at every open.
//
// Members join at the start of a batch, never within one. One caught up by a train may have
// missed the last few batches: it handles them first (read back from the log), and their writes
// join this batch.
import { AnnalsError } from '../errors.js'
import type { AppendHook } from '../log/hooks.js'
import type { Log } from '../log/log.js'
import type { RecordedEvent } from '../log/types.js'
import type { WriteOp } from '../storage/storage.js'
import type { Member } from './member.js'
import { projectionChannel } from '../diagnostics/channels.js'
import { failedError, tellBatch } from './projected.js'
import { closeWindow, openWindow } from './reentry.js'

/** What the hook needs from the registry. */
export interface HookHost {
  readonly log: Log
  /** Members caught up and waiting to join; they are the hook's once taken. */
  takeReady (): Member[]
  /** A batch settled: members moved on, or failed while catching up. */
  settled (members: Member[]): void
}

/** Most events a checkpoint in the database lags behind a view that they did not change. */
export const CHECKPOINT_LAG = 1024

export class InlineHook implements AppendHook {
  readonly #host: HookHost
  #attached: Member[] = []
  /** the members in the append path for the open batch */
  #members: Member[] = []
  /** between the first append of a batch and its settle */
  #open = false
  #done: (() => void) | undefined
  /** members the open batch moves on, with their next position as it will write it */
  #next = new Map<Member, number>()
  /** members whose checkpoint the open batch writes */
  #checkpointed: Member[] = []
  #afterSettle: Array<() => void> = []
  /** whether the open batch holds a window for inline handlers (reentry.ts) */
  #window = false
  /** Batches started so far. */
  batches = 0
  /** when the open batch started (performance.now()), when `annals:projection` has subscribers; else -1 */
  #started = -1

  constructor (host: HookHost) {
    this.#host = host
  }

  /** Runs `fn` now if no batch is open, else once the open one settles. */
  whenIdle (fn: () => void): void {
    if (this.#open) this.#afterSettle.push(fn)
    else fn()
  }

  async append (events: readonly RecordedEvent[]): Promise<WriteOp[]> {
    if (!this.#open) await this.#start(events[0]!.position)
    const members = this.#members
    for (const event of events) {
      for (const m of members) {
        // a member stopped (abandoned by close) handles nothing more
        if (m.owner !== 'hook' || !m.wants(event)) continue
        try {
          const pending = m.handle(event)
          if (pending !== undefined) await pending
        } catch (err) {
          for (const x of members) x.changes.dropPending()
          if (err === m.abandoned) {
            // closing, and its handler never settled: this append fails, and nothing of this
            // batch is written for the member (its checkpoint stays where it is)
            this.#next.delete(m)
            m.changes.reset(false)
            throw err
          }
          throw failedError(m.projected.name, event.position, err)
        }
      }
    }
    const end = events[events.length - 1]!.position + 1
    for (const m of members) {
      if (m.owner !== 'hook') {
        m.changes.dropPending()
        continue
      }
      m.changes.accept()
      this.#next.set(m, end)
    }
    // the view writes go once per batch, in finish
    return NO_WRITES
  }

  finish (): WriteOp[] {
    this.#closeWindow() // no handler runs for this batch any more
    const ops: WriteOp[] = []
    for (const [m, next] of this.#next) {
      if (m.changes.dirty) {
        m.changes.emit(ops)
      } else if (next - m.stored < CHECKPOINT_LAG) {
        // a batch that changed nothing in a view may go without a checkpoint: after a restart
        // its events are handled again on the very view they saw, so (handlers being
        // deterministic) to no effect
        continue
      }
      ops.push(m.checkpoint(next))
      this.#checkpointed.push(m)
    }
    return ops
  }

  settle (written: boolean): void {
    if (!this.#open) return
    this.#open = false
    this.#closeWindow()
    if (written) {
      for (const [m, next] of this.#next) {
        const events = next - m.record.next
        m.record = { ...m.record, next }
        if (this.#started >= 0) tellBatch(this.#host.log, m, events, this.#started)
      }
      for (const m of this.#checkpointed) m.stored = m.record.next
    }
    this.#checkpointed = []
    const touched = [...new Set([...this.#members, ...this.#next.keys()])]
    for (const m of touched) m.changes.reset(written)
    this.#next.clear()
    this.#members = []
    this.#attached = this.#attached.filter(m => m.owner === 'hook')
    this.#done?.()
    for (const fn of this.#afterSettle.splice(0)) fn()
    this.#host.settled(touched)
  }

  #closeWindow (): void {
    if (!this.#window) return
    this.#window = false
    closeWindow()
  }

  async #start (first: number): Promise<void> {
    this.#open = true
    this.#started = projectionChannel.hasSubscribers ? performance.now() : -1
    this.batches++
    openWindow()
    this.#window = true
    const done = new Promise<void>(resolve => { this.#done = resolve })
    for (const m of this.#host.takeReady()) {
      if (m.owner !== 'ready') continue
      m.owner = 'hook'
      this.#attached.push(m)
    }
    const members = this.#attached.filter(m => m.owner === 'hook')
    this.#members = members
    for (const m of members) {
      m.inflight = done
      if (m.record.next < first) await this.#catchUp(m, first - 1)
    }
    this.#members = members.filter(m => m.owner === 'hook')
  }

  /**
   * Handles the events `m` missed, up to `last`. Their writes join the batch whatever becomes of
   * its appends (if none joins, the batch writes nothing, and they are handled again next time).
   */
  async #catchUp (m: Member, last: number): Promise<void> {
    let next = m.record.next
    let error: AnnalsError | undefined
    const chunks = this.#host.log.chunks({ from: next, to: last, backwards: false, limit: Infinity }, undefined, true)
    try {
      for (let chunk = await chunks.next(); chunk.length > 0 && error === undefined; chunk = await chunks.next()) {
        for (const event of chunk) {
          if (m.wants(event)) {
            try {
              const pending = m.handle(event)
              if (pending !== undefined) await pending
            } catch (err) {
              if (err === m.abandoned) {
                // closing, and its handler never settled: it joins no batch
                m.changes.reset(false)
                return
              }
              error = failedError(m.projected.name, event.position, err)
              break
            }
          }
          next = event.position + 1
        }
      }
    } catch (err) {
      // reading the log failed: the member stops at its checkpoint; the append goes on
      m.changes.reset(false)
      m.projected.fail(m, m.record.next, err instanceof AnnalsError ? err : new AnnalsError('ANNALS_STORAGE', String(err), { cause: err }))
      return
    } finally {
      await chunks.close()
    }
    m.changes.accept()
    this.#next.set(m, next)
    if (error !== undefined) m.projected.fail(m, next, error)
  }
}

const NO_WRITES: WriteOp[] = []
