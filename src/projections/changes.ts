// The writes of one generation of a view while events are handled, before they reach the
// database. Three layers, newest first:
//   - the event being handled (dropped if its handler throws: none of a failed event's writes
//     are kept);
//   - pending: handled events whose writes are not yet handed out as batch operations (an
//     inline append's, dropped if the append fails);
//   - written: handed out to the batch being built, not yet committed (inline: earlier appends
//     of the same batch).
// Reads look through the three, then the database. Documents are encoded when they are put, so
// a handler that keeps mutating an object does not change what an earlier event wrote.
import { UnencodableError, decode, encode } from '../storage/codec.js'
import type { Storage, WriteOp } from '../storage/storage.js'
import type { ViewWriter } from './definition.js'
import { encodeBlock } from './history.js'
import { checkKey, historyKey, viewKey } from './keys.js'

/** An encoded document, or null for a deleted one. */
type Stored = Buffer | null

export class Changes {
  readonly #storage: Storage
  readonly #gen: number
  readonly #history: boolean
  /** the event being handled: keys and values in the order written */
  readonly #keys: string[] = []
  readonly #values: Stored[] = []
  #position = -1
  readonly #pending = new Map<string, Stored>()
  /** key -> [position, value, position, value, ...] of pending changes, for the history */
  readonly #log = new Map<string, Array<number | Stored>>()
  readonly #written = new Map<string, Stored>()
  /** What handlers get: get/put/del of this generation. */
  readonly writer: ViewWriter

  constructor (storage: Storage, gen: number, history: boolean) {
    this.#storage = storage
    this.#gen = gen
    this.#history = history
    this.writer = {
      get: async key => await this.#get(key),
      put: (key, doc) => { this.#put(key, doc) },
      del: key => { this.#put(key, undefined, true) }
    }
  }

  get gen (): number {
    return this.#gen
  }

  /** Starts handling the event at `position`. */
  begin (position: number): void {
    this.#position = position
    this.#keys.length = 0
    this.#values.length = 0
  }

  /** The event was handled: its writes join the pending ones. */
  commit (): void {
    const keys = this.#keys
    const values = this.#values
    const position = this.#position
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const value = values[i]!
      this.#pending.set(key, value)
      if (!this.#history) continue
      const changes = this.#log.get(key)
      if (changes === undefined) {
        this.#log.set(key, [position, value])
      } else if (changes[changes.length - 2] === position) {
        changes[changes.length - 1] = value // the last write of an event is its change
      } else {
        changes.push(position, value)
      }
    }
    keys.length = 0
    values.length = 0
  }

  /** The event failed: its writes are dropped. */
  discard (): void {
    this.#keys.length = 0
    this.#values.length = 0
  }

  /** Whether handled events wrote anything not yet handed out. */
  get dirty (): boolean {
    return this.#pending.size > 0
  }

  /** Hands out the pending writes as batch operations: documents and history blocks. */
  emit (ops: WriteOp[]): void {
    if (this.#pending.size === 0) return
    const gen = this.#gen
    for (const [key, value] of this.#pending) {
      ops.push({ key: viewKey(gen, key), value: value ?? undefined })
      this.#written.set(key, value)
    }
    for (const [key, changes] of this.#log) ops.push({ key: historyKey(gen, key, changes[0] as number), value: encodeBlock(changes) })
    this.#pending.clear()
    this.#log.clear()
  }

  /** Drops the pending writes (an inline append failed). */
  dropPending (): void {
    this.#pending.clear()
    this.#log.clear()
    this.discard()
  }

  /** Forgets everything: the batch was written, or failed. */
  reset (): void {
    this.dropPending()
    this.#written.clear()
  }

  async #get (key: string): Promise<unknown> {
    checkKey(key)
    const keys = this.#keys
    for (let i = keys.length - 1; i >= 0; i--) {
      if (keys[i] === key) return decodeDoc(this.#values[i]!)
    }
    let value = this.#pending.get(key)
    if (value === undefined) value = this.#written.get(key)
    if (value === undefined) value = await this.#storage.get(viewKey(this.#gen, key)) ?? null
    return decodeDoc(value)
  }

  #put (key: string, doc: unknown, del = false): void {
    checkKey(key)
    let value: Stored = null
    if (!del) {
      if (doc === undefined) throw new TypeError('A view document cannot be undefined; use del to remove one')
      try {
        value = encode(doc)
      } catch (err) {
        if (err instanceof UnencodableError) throw new TypeError(`A view document cannot be stored: ${err.message}`, { cause: err })
        throw err
      }
    }
    this.#keys.push(key)
    this.#values.push(value)
  }
}

function decodeDoc (value: Stored): unknown {
  return value === null ? undefined : decode(value)
}
