// The column layout of an object: its keys, then its values, each a MessagePack array, behind a
// byte MessagePack never uses. Events' data is stored so (see codec.ts, encodeData), because
// decoding it costs about half what decoding the same object as a MessagePack map does: the
// keys are read once per shape (the list of keys, in order) and the object is made by a
// function compiled for that shape, where a map's decoder reads every key and adds the
// properties one by one. Nested objects stay maps.
//
//   0xc1 | varint length of the keys | keys: array of strings | values: array, as many
//
// The keys are stored in every value, so each decodes on its own, in any process, years later.

/** The first byte of a value in the column layout: reserved by MessagePack, never used. */
export const COLUMNS = 0xc1

/** Objects of more keys stay maps: few data objects have so many, and a shape must stay small. */
const MAX_KEYS = 64
/**
 * Objects whose keys take this many bytes or more stay maps: the keys' length is then written in
 * two bytes at most. (Earlier values may have three: reads take up to three.)
 */
const MAX_KEY_BYTES = 0x4000
/** Shapes remembered (each a compiled function); past it the cache starts again. */
const MAX_SHAPES = 512
/** A shape is compiled once seen this often; before, objects of it are built by assignment. */
const COMPILE_AFTER = 4

interface Shape {
  keys: string[]
  /** the keys' bytes as stored, to compare with */
  bytes: Buffer
  seen: number
  make: ((values: unknown[]) => Record<string, unknown>) | undefined
}

const byKeys = new Map<string, Shape>()
let last: Shape | undefined

/** What packs and unpacks the parts: the codec's MessagePack. */
export interface Parts {
  pack: (value: unknown) => Buffer
  unpackRange: (buffer: Buffer, start: number, end: number) => unknown
}

/**
 * The column layout of `value`, or undefined when it is not an object that takes it: a plain
 * object (its prototype Object.prototype) of 1 to 64 keys, none of them `__proto__`, whose keys
 * pack into fewer than 16 KiB.
 *
 * @example
 * ```ts
 * encodeColumns({ a: 1 }, parts) // <Buffer c1 03 91 a1 61 91 01>
 * encodeColumns([1], parts) // undefined: encode it as MessagePack
 * ```
 */
export function encodeColumns (value: unknown, parts: Parts): Buffer | undefined {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return undefined
  const keys = Object.keys(value)
  const n = keys.length
  if (n === 0 || n > MAX_KEYS) return undefined
  const values = new Array<unknown>(n)
  let joined = ''
  for (let i = 0; i < n; i++) {
    const key = keys[i]!
    if (key === '__proto__') return undefined
    values[i] = (value as Record<string, unknown>)[key]
    joined += key.length + ':' + key
  }
  let keyBytes = packedKeys.get(joined)
  if (keyBytes === undefined) {
    keyBytes = Buffer.from(parts.pack(keys))
    if (keyBytes.length >= MAX_KEY_BYTES) return undefined
    if (packedKeys.size >= MAX_SHAPES) packedKeys.clear()
    packedKeys.set(joined, keyBytes)
  }
  const packed = parts.pack(values)
  const k = keyBytes.length
  const head = k < 0x80 ? 2 : 3
  const out = Buffer.allocUnsafe(head + k + packed.length)
  out[0] = COLUMNS
  if (head === 2) out[1] = k
  else { out[1] = (k & 0x7f) | 0x80; out[2] = k >>> 7 }
  keyBytes.copy(out, head)
  packed.copy(out, head + k)
  return out
}

/** The keys of each shape as packed, by the keys joined: encoding a shape again packs no keys. */
const packedKeys = new Map<string, Buffer>()

/**
 * Decodes the value in the column layout at `buffer[start..end)` (its first byte is
 * {@link COLUMNS}). Throws an Error when the bytes are not such a value.
 *
 * @example
 * ```ts
 * decodeColumns(Buffer.from('c10391a1619101', 'hex'), 0, 7, parts) // { a: 1 }
 * ```
 */
export function decodeColumns (buffer: Buffer, start: number, end: number, parts: Parts): Record<string, unknown> {
  let at = start + 1
  let k = 0
  for (let scale = 1; ; scale *= 0x80) {
    if (at >= end || scale > 0x4000) throw new Error('a column layout whose keys\' length is malformed')
    const b = buffer[at++]!
    k += (b & 0x7f) * scale
    if (b < 0x80) break
  }
  const keysEnd = at + k
  if (keysEnd > end) throw new Error('a column layout that ends inside its keys')
  const shape = shapeAt(buffer, at, keysEnd, parts)
  const values = parts.unpackRange(buffer, keysEnd, end)
  const n = shape.keys.length
  if (!Array.isArray(values) || values.length !== n) throw new Error(`a column layout of ${n} keys whose values are not ${n}`)
  if (shape.make !== undefined) return shape.make(values)
  if (++shape.seen >= COMPILE_AFTER) shape.make = compile(shape.keys)
  const object: Record<string, unknown> = {}
  for (let i = 0; i < n; i++) object[shape.keys[i]!] = values[i]
  return object
}

/** The shape whose keys are stored at `buffer[start..end)`: the last one, or one found by its bytes. */
function shapeAt (buffer: Buffer, start: number, end: number, parts: Parts): Shape {
  if (last !== undefined && sameBytes(last.bytes, buffer, start, end)) return last
  const id = buffer.toString('latin1', start, end)
  let shape = byKeys.get(id)
  if (shape === undefined) {
    const keys = parts.unpackRange(buffer, start, end)
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS || !keys.every(key => typeof key === 'string' && key !== '__proto__') || new Set(keys).size !== keys.length) {
      throw new Error('a column layout whose keys are not distinct strings')
    }
    if (byKeys.size >= MAX_SHAPES) byKeys.clear()
    shape = { keys, bytes: Buffer.from(buffer.subarray(start, end)), seen: 0, make: undefined }
    byKeys.set(id, shape)
  }
  last = shape
  return shape
}

function sameBytes (a: Buffer, b: Buffer, start: number, end: number): boolean {
  if (a.length !== end - start) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[start + i]) return false
  return true
}

/** A function that makes an object of these keys, in order, from their values: one object literal. */
function compile (keys: string[]): (values: unknown[]) => Record<string, unknown> {
  // keys are JSON-quoted: any string is a safe property name there, `__proto__` excepted (refused above)
  // eslint-disable-next-line @typescript-eslint/no-implied-eval, no-new-func
  return new Function('v', `return { ${keys.map((key, i) => `${JSON.stringify(key)}: v[${i}]`).join(', ')} }`) as (values: unknown[]) => Record<string, unknown>
}
