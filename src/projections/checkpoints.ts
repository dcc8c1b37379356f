// Checkpoints: the record of one generation of a view, written in the same batch as the view
// changes it accounts for. `next` is the first position the generation has not handled, so
// after any crash the view holds exactly the effects of the events before `next`.
import type { Backend } from '../backend/backend.js'
import { waitForLock } from '../backend/wait-lock.js'
import { AnnalsError } from '../errors.js'
import { decode, encode } from '../storage/codec.js'
import type { Storage } from '../storage/storage.js'
import { COUNTER_KEY, recordKey } from './keys.js'

/** One generation of a view: where it is kept, what built it, how far it got. */
export interface GenerationRecord {
  /** the number of its key spaces (views and history) */
  gen: number
  version: number
  /** that of the definition whose handler wrote its last checkpoint */
  fingerprint: string
  /** whether it keeps the history of its changes */
  history: boolean
  /**
   * the versions of the event types with upcast steps it was built with (Upcaster.versions:
   * '' when none); another set rebuilds the view
   */
  versions: string
  /** the next position to handle */
  next: number
}

/**
 * The fixed part of a record's encoding: MessagePack of the fields before `next`. A member
 * keeps it, since only `next` changes from one checkpoint of a generation to the next.
 */
export function recordPrefix (r: GenerationRecord): Buffer {
  // records made before versions were recorded have five fields: versions ''
  const whole = encode(r.versions === '' ? [r.gen, r.version, r.fingerprint, r.history, 0] : [r.gen, r.version, r.fingerprint, r.history, r.versions, 0])
  return Buffer.from(whole.subarray(0, whole.length - 1)) // without the 0, a positive fixint
}

/** A record from its fixed part and `next`. */
export function encodeWithPrefix (prefix: Buffer, next: number): Buffer {
  // `next` as a float 64 (0xcb and 8 bytes): exact for every position, and read back as a
  // number (a uint 64 would come back as a bigint)
  const out = Buffer.allocUnsafe(prefix.length + 9)
  prefix.copy(out, 0)
  out[prefix.length] = 0xcb
  out.writeDoubleBE(next, prefix.length + 1)
  return out
}

/** Encodes a record, with `next` in place of its own if given. */
export function encodeRecord (r: GenerationRecord, next = r.next): Buffer {
  return encodeWithPrefix(recordPrefix(r), next)
}

function decodeRecord (name: string, bytes: Buffer): GenerationRecord {
  let r: unknown
  try {
    r = decode(bytes)
  } catch (err) {
    throw corrupt(name, err)
  }
  if (!Array.isArray(r) || (r.length !== 5 && r.length !== 6) || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) ||
      typeof r[2] !== 'string' || typeof r[3] !== 'boolean' || !Number.isSafeInteger(r[r.length - 1]) ||
      (r.length === 6 && (typeof r[4] !== 'string' || r[4] === ''))) {
    throw corrupt(name)
  }
  return { gen: r[0], version: r[1], fingerprint: r[2], history: r[3], versions: r.length === 6 ? r[4] : '', next: r[r.length - 1] }
}

function corrupt (name: string, cause?: unknown): AnnalsError {
  return new AnnalsError('ANNALS_CORRUPT', `The checkpoint of projection '${name}' does not decode`, { cause })
}

/** The stored records of a projection: the active generation and one being rebuilt, if any. */
export async function readRecords (storage: Storage, name: string): Promise<{ active: GenerationRecord | undefined, building: GenerationRecord | undefined }> {
  const [active, building] = await storage.getMany([recordKey(name, false), recordKey(name, true)])
  return {
    active: active === undefined ? undefined : decodeRecord(name, active),
    building: building === undefined ? undefined : decodeRecord(name, building)
  }
}

/**
 * Whether a stored generation serves this definition: the same version, the same history flag
 * (which decides what is stored), and the same versions of the event types with upcast steps
 * (`versions`, see Upcaster.versions: the events it handled had that shape). The fingerprint
 * does not decide (see changed.ts).
 */
export function sameBuild (r: GenerationRecord, def: { version: number, history: boolean }, versions: string): boolean {
  return r.version === def.version && r.history === def.history && r.versions === versions
}

/** The lock under which a generation number is taken, in whichever process. */
const GENERATIONS_LOCK = 'projection-generations'

/**
 * Hands out generation numbers, unique across every process that uses the database: each is
 * taken from the stored counter under a lock, and the counter moved on before it is used.
 */
export class Generations {
  readonly #storage: Storage
  readonly #backend: Pick<Backend, 'tryLock' | 'onNotice'>

  constructor (storage: Storage, backend: Pick<Backend, 'tryLock' | 'onNotice'>) {
    this.#storage = storage
    this.#backend = backend
  }

  /** A new generation number, stored as taken. */
  async take (): Promise<number> {
    const lock = await waitForLock(this.#backend, GENERATIONS_LOCK)
    try {
      const stored = await this.#storage.get(COUNTER_KEY)
      if (stored !== undefined && stored.length !== 4) throw new AnnalsError('ANNALS_CORRUPT', 'The projection generation counter is malformed')
      const gen = stored === undefined ? 0 : stored.readUInt32BE(0)
      const value = Buffer.allocUnsafe(4)
      value.writeUInt32BE(gen + 1, 0)
      await this.#storage.write([{ key: COUNTER_KEY, value }], false)
      return gen
    } finally {
      await lock.release()
    }
  }
}
