// Inline projections in the append path. The log has one hook slot (log/hooks.ts); this hook
// runs every inline projection in it. For each append that passed its checks, each attached
// member handles the append's events, and their view changes and checkpoints join the append's
// batch. If a handler throws, the append fails alone with ANNALS_PROJECTION_FAILED and none of
// its writes are added, for any projection. Writes of earlier appends of the same batch are
// not in the database yet: members read them from their own layers until the batch settles.
//
// Members join at the start of a batch, never within one. One caught up by a train may have
// missed the last few batches: it handles them first (read back from the log) and their writes
// go with the batch's first successful append.
import { AnnalsError } from '../errors.js'
import type { AppendHook } from '../log/hooks.js'
import type { Log } from '../log/log.js'
import type { RecordedEvent } from '../log/types.js'
import type { WriteOp } from '../storage/storage.js'
import type { Member } from './member.js'
import { failedError } from './projected.js'

/** What the hook needs from the registry. */
export interface HookHost {
  readonly log: Log
  /** Members caught up and waiting to join; they are the hook's once taken. */
  takeReady (): Member[]
  /** A batch settled: members moved on, or failed while catching up. */
  settled (members: Member[]): void
}

export class InlineHook implements AppendHook {
  readonly #host: HookHost
  #attached: Member[] = []
  /** the members in the append path for the open batch */
  #members: Member[] = []
  /** between the first append of a batch and its settle */
  #open = false
  #done: (() => void) | undefined
  /** writes of catching up, waiting for the batch's first successful append, and their checkpoints */
  #stash: WriteOp[] = []
  #stashNext = new Map<Member, number>()
  /** members whose checkpoint this batch writes, with the position it writes */
  #emitted = new Map<Member, number>()
  #touched = new Set<Member>()
  #afterSettle: Array<() => void> = []

  constructor (host: HookHost) {
    this.#host = host
  }

  /** Batches started so far. */
  batches = 0

  /** Runs `fn` now if no batch is open, else once the open one settles. */
  whenIdle (fn: () => void): void {
    if (this.#open) this.#afterSettle.push(fn)
    else fn()
  }

  async append (events: readonly RecordedEvent[]): Promise<WriteOp[]> {
    if (!this.#open) await this.#start(events[0]!.position)
    const members = this.#members
    if (members.length === 0 && this.#stash.length === 0) return []
    for (const event of events) {
      for (const m of members) {
        if (!m.wants(event.type)) continue
        try {
          const pending = m.apply(event)
          if (pending !== undefined) await pending
        } catch (err) {
          for (const x of members) x.changes.dropPending()
          throw failedError(m.projected.name, event.position, err)
        }
      }
    }
    const ops = this.#stash
    this.#stash = []
    for (const [m, next] of this.#stashNext) this.#emitted.set(m, next)
    this.#stashNext.clear()
    const end = events[events.length - 1]!.position + 1
    for (const m of members) {
      this.#emitted.set(m, end)
      // an append that changed nothing in a view needs no checkpoint: after a restart its events
      // are handled again on the very view they saw, so (handlers being deterministic) to no effect
      if (!m.changes.dirty) continue
      m.changes.emit(ops)
      ops.push(m.checkpoint(end))
    }
    return ops
  }

  settle (written: boolean): void {
    if (!this.#open) return
    this.#open = false
    for (const [m, next] of this.#emitted) if (written) m.record = { ...m.record, next }
    for (const m of this.#touched) m.changes.reset()
    const touched = [...this.#touched]
    this.#emitted.clear()
    this.#touched.clear()
    this.#stash = []
    this.#stashNext.clear()
    this.#attached = this.#attached.filter(m => m.owner === 'hook')
    this.#done?.()
    for (const fn of this.#afterSettle.splice(0)) fn()
    this.#host.settled(touched)
  }

  async #start (first: number): Promise<void> {
    this.#open = true
    this.batches++
    const done = new Promise<void>(resolve => { this.#done = resolve })
    for (const m of this.#host.takeReady()) {
      if (m.owner !== 'ready') continue
      m.owner = 'hook'
      this.#attached.push(m)
    }
    for (const m of this.#attached) {
      if (m.owner !== 'hook') continue
      m.inflight = done
      this.#touched.add(m)
      if (m.record.next < first) await this.#catchUp(m, first - 1)
    }
    this.#members = this.#attached.filter(m => m.owner === 'hook')
  }

  /** Handles the events `m` missed, up to `last`; their writes wait in the stash. */
  async #catchUp (m: Member, last: number): Promise<void> {
    let next = m.record.next
    let error: AnnalsError | undefined
    const chunks = this.#host.log.chunks({ from: next, to: last, backwards: false, limit: Infinity })
    try {
      for (let chunk = await chunks.next(); chunk.length > 0 && error === undefined; chunk = await chunks.next()) {
        for (const event of chunk) {
          if (m.wants(event.type)) {
            try {
              const pending = m.apply(event)
              if (pending !== undefined) await pending
            } catch (err) {
              error = failedError(m.projected.name, event.position, err)
              break
            }
          }
          next = event.position + 1
        }
      }
    } catch (err) {
      // reading the log failed: the member stops at its checkpoint; the append goes on
      m.changes.dropPending()
      m.projected.fail(m, m.record.next, err instanceof AnnalsError ? err : new AnnalsError('ANNALS_STORAGE', String(err), { cause: err }))
      return
    } finally {
      await chunks.close()
    }
    m.changes.emit(this.#stash)
    this.#stash.push(m.checkpoint(next))
    this.#stashNext.set(m, next)
    if (error !== undefined) m.projected.fail(m, next, error)
  }
}
