// The writes of one generation of a view while events are handled, before they reach the
// database. Three layers, newest first:
//   - the event being handled (dropped if its handler throws: none of a failed event's writes
//     are kept);
//   - pending: handled events of an append not yet accepted (dropped if the append fails);
//   - accepted: what the batch being built will write (a train's chunk; an inline batch's
//     successful appends), handed out as batch operations once, at its end: one document and
//     one history block per key changed.
// Reads look through the three, then the database. Objects are encoded when they are put, so a
// handler that keeps mutating an object does not change what an earlier event wrote; strings,
// numbers, booleans and null cannot be mutated, and are kept as they are until written.
import { UnencodableError, decode, encode } from '../storage/codec.js'
import type { Storage, WriteOp } from '../storage/storage.js'
import type { ViewWriter } from './definition.js'
import { encodeBlock } from './history.js'
import { checkKey, historyKey, viewKey } from './keys.js'

/** Bytes of documents a view keeps in memory, read or written lately, to spare reads. */
const CACHE_BYTES = 4 * 1024 * 1024

const DELETED = Symbol('deleted')
type Primitive = string | number | boolean | null
/** A document: an object as its encoded bytes, a primitive as itself; or none. */
type Stored = Buffer | Primitive | typeof DELETED

function isPrimitive (doc: unknown): doc is Primitive {
  return doc === null || typeof doc === 'string' || typeof doc === 'number' || typeof doc === 'boolean'
}

/** The document as handlers get it: decoded afresh from bytes, so it is theirs to mutate. */
function docOf (value: Stored): unknown {
  if (value === DELETED) return undefined
  return value instanceof Buffer ? decode(value) : value
}

/** The bytes to store, or undefined for a deleted document. */
function bytesOf (value: Stored): Buffer | undefined {
  if (value === DELETED) return undefined
  return value instanceof Buffer ? value : encode(value)
}

export class Changes {
  readonly #storage: Storage
  readonly #gen: number
  readonly #history: boolean
  /** the event being handled: keys and values in the order written */
  readonly #keys: string[] = []
  readonly #values: Stored[] = []
  #position = -1
  readonly #pending = new Map<string, Stored>()
  /** key -> [position, document, position, document, ...] of pending changes, for the history */
  readonly #log = new Map<string, Array<number | Stored>>()
  readonly #accepted = new Map<string, Stored>()
  readonly #acceptedLog = new Map<string, Array<number | Stored>>()
  /**
   * Documents as the database holds them, for keys read or written lately: nothing else writes
   * this generation (its member is its only writer), so they stay true until written again.
   */
  readonly #cache = new Map<string, Stored>()
  #cacheBytes = 0
  /** What handlers get: get/put/del of this generation. */
  readonly writer: ViewWriter

  constructor (storage: Storage, gen: number, history: boolean) {
    this.#storage = storage
    this.#gen = gen
    this.#history = history
    this.writer = {
      get: key => this.#get(key),
      put: (key, doc) => { this.#put(key, doc) },
      del: key => { this.#write(key, DELETED) }
    }
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

  /** Whether the batch being built changes anything. */
  get dirty (): boolean {
    return this.#accepted.size > 0
  }

  /** The pending writes join the batch (the append they belong to succeeded). */
  accept (): void {
    if (this.#pending.size === 0) return
    for (const [key, value] of this.#pending) this.#accepted.set(key, value)
    for (const [key, changes] of this.#log) {
      const before = this.#acceptedLog.get(key)
      if (before === undefined) this.#acceptedLog.set(key, changes)
      else for (const c of changes) before.push(c)
    }
    this.#pending.clear()
    this.#log.clear()
  }

  /** Hands out the batch's writes as operations: a document and a history block per key. */
  emit (ops: WriteOp[]): void {
    this.accept()
    const gen = this.#gen
    for (const [key, value] of this.#accepted) ops.push({ key: viewKey(gen, key), value: bytesOf(value) })
    for (const [key, changes] of this.#acceptedLog) {
      const block: Array<number | Buffer | null> = new Array(changes.length)
      for (let i = 0; i < changes.length; i += 2) {
        block[i] = changes[i] as number
        block[i + 1] = bytesOf(changes[i + 1] as Stored) ?? null
      }
      ops.push({ key: historyKey(gen, key, block[0] as number), value: encodeBlock(block) })
    }
  }

  /** Drops the pending writes (an inline append failed). */
  dropPending (): void {
    this.#pending.clear()
    this.#log.clear()
    this.discard()
  }

  /** Forgets the batch's writes, once it was `written` (then they are what the database holds) or failed. */
  reset (written: boolean): void {
    this.dropPending()
    if (written) for (const [key, value] of this.#accepted) this.#remember(key, value)
    this.#accepted.clear()
    this.#acceptedLog.clear()
  }

  #remember (key: string, value: Stored): void {
    if (this.#cacheBytes > CACHE_BYTES) {
      this.#cache.clear()
      this.#cacheBytes = 0
    }
    this.#cache.set(key, value)
    this.#cacheBytes += key.length + (value instanceof Buffer || typeof value === 'string' ? value.length : 8) + 16
  }

  async #get (key: string): Promise<unknown> {
    checkKey(key)
    const keys = this.#keys
    for (let i = keys.length - 1; i >= 0; i--) {
      if (keys[i] === key) return docOf(this.#values[i]!)
    }
    let value = this.#pending.get(key)
    if (value === undefined) value = this.#accepted.get(key)
    if (value === undefined) value = this.#cache.get(key)
    if (value !== undefined) return docOf(value)
    const bytes = await this.#storage.get(viewKey(this.#gen, key))
    const doc = bytes === undefined ? undefined : decode(bytes)
    // unless this batch wrote it meanwhile, it is what the database holds
    if (!this.#accepted.has(key)) this.#remember(key, bytes === undefined ? DELETED : isPrimitive(doc) ? doc : bytes)
    return doc
  }

  #put (key: string, doc: unknown): void {
    if (doc === undefined) throw new TypeError('A view document cannot be undefined; use del to remove one')
    if (isPrimitive(doc)) {
      this.#write(key, doc)
      return
    }
    let bytes: Buffer
    try {
      bytes = encode(doc)
    } catch (err) {
      if (err instanceof UnencodableError) throw new TypeError(`A view document cannot be stored: ${err.message}`, { cause: err })
      throw err
    }
    this.#write(key, bytes)
  }

  #write (key: string, value: Stored): void {
    checkKey(key)
    this.#keys.push(key)
    this.#values.push(value)
  }
}
