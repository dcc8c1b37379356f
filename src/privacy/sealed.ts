// A sealed value: a personal field encrypted under its data subject's key. It is what records
// hold in place of the field, and what projection handlers and aggregates' `evolve` see: they
// may copy it whole into views and state, which are then stored sealed too, and opened (or
// redacted, once the subject is shredded) only when read. So no plaintext of a personal field is
// ever written to the database, and deleting a subject's key forgets it everywhere at once.
import { inspect } from 'node:util'
import { AnnalsError } from '../errors.js'
import { registerExtension } from '../storage/codec.js'

/** MessagePack extension type of sealed values in records, snapshots and views. */
const SEALED_TYPE = 0x41

// set by the class's static block: a sealed value's bytes at rest, read and written
let laidOut: (s: Sealed) => Buffer | undefined
let layOut: (s: Sealed, bytes: Buffer) => void

/**
 * A personal field, encrypted. Copy it whole; it cannot be read, compared or turned into a
 * string where it is sealed (projection handlers, aggregates' `evolve`): annals opens it when
 * you read the view or load the aggregate.
 *
 * @example
 * ```ts
 * defineProjection({
 *   name: 'contacts', version: 1, types: ['UserRegistered'],
 *   async handle (event, view) {
 *     // event.data.email is Sealed here: store it as it is
 *     await view.put(event.data.userId, { email: event.data.email })
 *   }
 * })
 * ```
 */
export class Sealed {
  /** its bytes at rest, once laid out (see {@link sealedValue}) */
  #bytes: Buffer | undefined

  static {
    // a private field rather than a WeakMap: one WeakMap entry per sealed value cost more than
    // the cipher (about 1 µs each, and work for the garbage collector)
    laidOut = s => s.#bytes
    layOut = (s, bytes) => { s.#bytes = bytes }
  }

  constructor (
    /** the data subject whose key sealed it */
    readonly subject: string,
    /** which of the subject's keys (a new one is made if an erased subject comes back) */
    readonly keyId: Uint8Array,
    /** the event it was sealed for, and the path of the field there: bound into the cipher */
    readonly eventId: string,
    readonly path: string,
    /** the cipher's nonce (24 bytes) */
    readonly iv: Uint8Array,
    /** ciphertext followed by the 16-byte Poly1305 tag */
    readonly box: Uint8Array
  ) {}

  toString (): string {
    throw sealedUse(this)
  }

  toJSON (): never {
    throw sealedUse(this)
  }

  valueOf (): never {
    throw sealedUse(this)
  }

  [Symbol.toPrimitive] (): never {
    throw sealedUse(this)
  }

  [inspect.custom] (): string {
    return `[Sealed ${this.path} of ${this.subject}]`
  }
}

function sealedUse (s: Sealed): AnnalsError {
  return new AnnalsError('ANNALS_SEALED',
    `The personal field '${s.path}' of ${s.subject} is sealed here: copy it whole into views or state, and compute on it where you read them`)
}

// At rest a sealed value is one binary string, cheap to write and to read:
//   subject, event id and path as u16 length + UTF-8, key id (8), nonce (24), ciphertext + tag (16)
const KEY_ID = 8
const NONCE = 24
const TAG = 16

/**
 * A sealed value laid out at rest from the start: its bytes are written once, here, and reused
 * whenever it is encoded (into its event's record, or a view or snapshot it is copied into).
 */
export function sealedValue (subject: string, keyId: Uint8Array, eventId: string, path: string, nonce: Uint8Array, box: Uint8Array): Sealed {
  const { bytes, box: at } = sealedLayout(subject, keyId, eventId, path, box.length)
  bytes.set(nonce, at - NONCE)
  bytes.set(box, at)
  return sealedIn(bytes, subject, eventId, path, at)
}

/**
 * The bytes at rest of a sealed value whose ciphertext and tag take `boxLength` bytes, with all
 * but its nonce and box written: those go at `box - 24` and `box`, where the caller seals in
 * place. Then {@link sealedIn} makes the value.
 */
export function sealedLayout (subject: string, keyId: Uint8Array, eventId: string, path: string, boxLength: number): { bytes: Buffer, box: number } {
  const a = Buffer.byteLength(subject)
  const b = Buffer.byteLength(eventId)
  const c = Buffer.byteLength(path)
  const bytes = Buffer.allocUnsafe(6 + a + b + c + KEY_ID + NONCE + boxLength)
  let i = writeText(bytes, 0, subject, a)
  i = writeText(bytes, i, eventId, b)
  i = writeText(bytes, i, path, c)
  bytes.set(keyId, i)
  return { bytes, box: i + KEY_ID + NONCE }
}

/** The sealed value whose bytes {@link sealedLayout} laid out (and the caller filled). */
export function sealedIn (bytes: Buffer, subject: string, eventId: string, path: string, box: number): Sealed {
  const i = box - NONCE - KEY_ID
  const s = new Sealed(subject, bytes.subarray(i, i + KEY_ID), eventId, path, bytes.subarray(i + KEY_ID, box), bytes.subarray(box))
  layOut(s, bytes)
  return s
}

/** Writes `text` (of `length` UTF-8 bytes) at `i` after its u16 length; returns where it ends. */
function writeText (bytes: Buffer, i: number, text: string, length: number): number {
  bytes.writeUInt16BE(length, i)
  bytes.write(text, i + 2, 'utf8')
  return i + 2 + length
}

function toBytes (s: Sealed): Buffer {
  const bytes = laidOut(s)
  if (bytes !== undefined) return bytes
  // made by hand (tests do): lay it out now
  return toBytes(sealedValue(s.subject, s.keyId, s.eventId, s.path, s.iv, s.box))
}

function fromBytes (value: unknown): Sealed {
  const bytes = value as Buffer
  if (!(bytes instanceof Uint8Array)) throw malformed()
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const texts: string[] = []
  let i = 0
  for (let k = 0; k < 3; k++) {
    if (i + 2 > b.length) throw malformed()
    const length = b.readUInt16BE(i)
    texts.push(b.toString('utf8', i + 2, i + 2 + length))
    i += 2 + length
  }
  if (i + KEY_ID + NONCE + TAG > b.length) throw malformed()
  const s = new Sealed(texts[0]!, b.subarray(i, i + KEY_ID), texts[1]!, texts[2]!, b.subarray(i + KEY_ID, i + KEY_ID + NONCE), b.subarray(i + KEY_ID + NONCE))
  layOut(s, b)
  return s
}

function malformed (): AnnalsError {
  return new AnnalsError('ANNALS_CORRUPT', 'A sealed value is malformed')
}

registerExtension(Sealed, SEALED_TYPE, toBytes, fromBytes)

/**
 * Replaces every sealed value inside `value` by what `open` returns for it. Plain objects and
 * arrays on the way to one are copied (the value given is left as it was), Maps and Sets are
 * rebuilt, other objects (class instances) are changed in place; cycles are followed once.
 * Values without sealed parts come back as they are.
 */
export function mapSealed (value: unknown, open: (s: Sealed) => unknown): unknown {
  return walk(value, open, new Map())
}

function walk (value: unknown, open: (s: Sealed) => unknown, seen: Map<object, unknown>): unknown {
  if (value instanceof Sealed) return open(value)
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || value instanceof Date) return value
  if (seen.has(value)) return seen.get(value)
  seen.set(value, value) // until we know better: a cycle back here sees the original
  let result: unknown = value
  if (value instanceof Map) {
    let changed = false
    const entries = [...value].map(([k0, v0]) => {
      const k = walk(k0, open, seen)
      const v = walk(v0, open, seen)
      changed ||= k !== k0 || v !== v0
      return [k, v] as const
    })
    if (changed) result = new Map(entries)
  } else if (value instanceof Set) {
    let changed = false
    const items = [...value].map(v0 => {
      const v = walk(v0, open, seen)
      changed ||= v !== v0
      return v
    })
    if (changed) result = new Set(items)
  } else {
    const proto: unknown = Object.getPrototypeOf(value)
    const plain = Array.isArray(value) || proto === Object.prototype || proto === null
    let out: Record<string, unknown> | undefined
    for (const key of Object.keys(value)) {
      const before = (value as Record<string, unknown>)[key]
      const after = walk(before, open, seen)
      if (after === before) continue
      if (!plain) (value as Record<string, unknown>)[key] = after // a class instance: in place
      else (out ??= (Array.isArray(value) ? value.slice() : { ...value }) as Record<string, unknown>)[key] = after
    }
    result = out ?? value
  }
  seen.set(value, result)
  return result
}

/** Calls `visit` for every sealed value inside `value`. */
export function eachSealed (value: unknown, visit: (s: Sealed) => void): void {
  mapSealed(value, s => { visit(s); return s })
}

/**
 * Calls `visit` for every sealed value inside `value`, with the dotted path where it is now
 * (which differs from the path it was sealed at, `s.path`, when an upcast step moved it).
 * Follows plain objects and arrays, as reads open them.
 */
export function eachSealedAt (value: unknown, visit: (s: Sealed, path: string) => void, path = ''): void {
  if (value instanceof Sealed) {
    visit(value, path)
    return
  }
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || value instanceof Date) return
  for (const key of Object.keys(value)) eachSealedAt((value as Record<string, unknown>)[key], visit, path === '' ? key : `${path}.${key}`)
}
