// A member: one generation of one projection's view being built, event by event, by whoever
// owns it at the moment: a train (catching up, or following the log for async projections),
// the append hook (inline projections in the append path), or nobody (stopped: failed,
// replaced, closed, or an old view frozen while a new one is rebuilt).
import { AnnalsError } from '../errors.js'
import type { RecordedEvent } from '../log/types.js'
import type { Storage, WriteOp } from '../storage/storage.js'
import { Changes } from './changes.js'
import { encodeWithPrefix, recordPrefix, type GenerationRecord } from './checkpoints.js'
import type { ProjectionHandler } from './definition.js'
import { recordKey } from './keys.js'
import type { Projected } from './projected.js'
import { runInline } from './reentry.js'

/** Who moves a member on: see the file's comment. `ready`: caught up, waiting to join the append path. */
export type Owner = 'train' | 'ready' | 'hook' | 'stopped'

export class Member {
  readonly projected: Projected
  /** The generation as committed: `next` moves only once a batch holding its writes is written. */
  record: GenerationRecord
  /**
   * The `next` of its checkpoint in the database. Behind `record.next` when batches that changed
   * nothing in its view were written without a checkpoint (inline ones: see inline-hook.ts).
   */
  stored: number
  /** Being rebuilt beside the active generation, which serves reads until the swap. */
  building: boolean
  owner: Owner = 'stopped'
  /** The train that owns it, while one does. */
  train: unknown
  /** Settles when what is being handled and written for it is done. */
  inflight: Promise<unknown> | undefined
  readonly changes: Changes
  readonly types: ReadonlySet<string> | undefined
  readonly prefix: string | undefined
  readonly #handle: ProjectionHandler
  readonly #inline: boolean

  constructor (projected: Projected, storage: Storage, record: GenerationRecord, building: boolean) {
    this.projected = projected
    this.record = record
    this.stored = record.next
    this.building = building
    this.changes = new Changes(storage, record.gen, record.history)
    const types = projected.definition.types
    this.types = types === undefined ? undefined : new Set(types)
    this.prefix = projected.definition.streams?.prefix
    this.#handle = projected.definition.handle
    this.#inline = projected.definition.mode === 'inline'
  }

  get inline (): boolean {
    return this.#inline
  }

  /** Whether this member handles events of `type`. */
  wants (event: { type: string, stream: string }): boolean {
    return (this.types === undefined || this.types.has(event.type)) &&
      (this.prefix === undefined || event.stream.startsWith(this.prefix))
  }

  /**
   * Handles one event: its writes join the pending ones, or are dropped if the handler throws
   * (or rejects: the returned promise then rejects). A promise only when the handler returned
   * one, to spare synchronous handlers a turn. An inline projection's handler runs in the
   * context that makes `append` refuse (reentry.ts), within the window its caller opened.
   */
  handle (event: RecordedEvent): Promise<void> | undefined {
    const changes = this.changes
    changes.begin(event.position)
    let result: unknown
    try {
      result = this.#inline ? runInline(this.projected.name, () => this.#handle(event, changes.writer)) : this.#handle(event, changes.writer)
    } catch (err) {
      changes.discard()
      throw err
    }
    if (!isPromise(result)) {
      changes.commit()
      return undefined
    }
    return this.#settle(result, event.position)
  }

  /** Waits for a handler's promise, unless the member is abandoned first (see {@link abandon}). */
  #settle (result: PromiseLike<unknown>, position: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting = { position, reject }
      this.#waiting = waiting
      result.then(() => {
        if (this.#waiting !== waiting) return // abandoned: what it wrote goes nowhere
        this.#settled()
        this.changes.commit()
        resolve()
      }, (err: unknown) => {
        if (this.#waiting !== waiting) return
        this.#settled()
        this.changes.discard()
        reject(err)
      })
    })
  }

  #settled (): void {
    this.#waiting = undefined
  }

  /** the handler being waited for: the event's position, and how to stop waiting */
  #waiting: { position: number, reject: (err: unknown) => void } | undefined
  /** The error its handler was abandoned with, if it was (see {@link abandon}). */
  abandoned: AnnalsError | undefined

  /**
   * Stops the member for good (the database is closing), and stops waiting for its handler if
   * one has not settled: whoever waits gets an `ANNALS_HANDLER_ABANDONED` error, and nothing the
   * handler does afterwards is kept. Returns that error, or undefined if no handler was running.
   */
  abandon (after: number): AnnalsError | undefined {
    this.owner = 'stopped'
    const waiting = this.#waiting
    if (waiting === undefined) return undefined
    this.#settled()
    this.changes.discard()
    const error = new AnnalsError('ANNALS_HANDLER_ABANDONED',
      `Projection '${this.projected.name}': close() abandoned its handler of the event at position ${waiting.position}, which had not settled after ${after} ms`)
    this.abandoned = error
    waiting.reject(error)
    return error
  }

  /** The write of its record with `next`, under its key (active or building). */
  checkpoint (next: number): WriteOp {
    // one per chunk or batch: the key and the record's fixed part (all but `next`) are reused
    if (this.#key === undefined || this.#keyBuilding !== this.building) {
      this.#key = recordKey(this.projected.definition.name, this.building)
      this.#keyBuilding = this.building
    }
    this.#prefix ??= recordPrefix(this.record)
    return { key: this.#key, value: encodeWithPrefix(this.#prefix, next) }
  }

  #key: Buffer | undefined
  #keyBuilding = false
  #prefix: Buffer | undefined

  /** Waits until nothing is being handled or written for it. */
  async quiet (): Promise<void> {
    for (let seen = this.inflight; seen !== undefined; seen = this.inflight === seen ? undefined : this.inflight) {
      await seen.catch(() => {})
    }
  }
}

/** Whether a handler returned a promise (or any thenable) to wait for. */
function isPromise (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}
