// Keys of projections. Each generation of a view (a build from the start of the log) has a
// number of its own, so a rebuild writes beside the view it replaces and the swap is one small
// write; old generations are deleted afterwards by range.
//
//   P 'a' name            -> the active generation's record (see checkpoints.ts)
//   P 'b' name            -> the record of a generation being rebuilt, until it is swapped in
//   P 'g'                 -> the next free generation number (u32)
//   P 'x' gen (u32)       -> a generation to delete
//   V gen (u32) key       -> the document at `key` (key: the user's string, UTF-8)
//   H gen (u32) key* 0x00 first (u64) -> a block of the changes of `key` from position `first`
//
// In history keys the view key is escaped (0x00 -> 0x01 0x01, 0x01 -> 0x01 0x02) so that 0x00
// can end it and keys still sort as their UTF-8 bytes, then by position.
import { Space, namedKey, readU64, writeU64 } from '../storage/keys.js'

/** Longest view key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024

// in a `u` regex, pairs match as one code point: only lone halves match \p{Surrogate}
const LONE_SURROGATE = /\p{Surrogate}/u

function hasSurrogate (key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdfff) return true
  }
  return false
}

/** Checks a view key: a well-formed string of at most {@link MAX_KEY_BYTES} UTF-8 bytes. */
export function checkKey (key: unknown): string {
  if (typeof key !== 'string') throw new TypeError('A view key must be a string')
  if (hasSurrogate(key) && LONE_SURROGATE.test(key)) throw new TypeError('A view key must be well-formed UTF-16 (no lone surrogates)')
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new TypeError(`A view key takes at most ${MAX_KEY_BYTES} UTF-8 bytes`)
  }
  return key
}

export function recordKey (name: string, building: boolean): Buffer {
  return namedKey(Space.projections, (building ? 'b' : 'a') + name)
}

export const COUNTER_KEY = namedKey(Space.projections, 'g')

function tagged (tag: number, kind: number | undefined, gen: number, extra: number): Buffer {
  const start = kind === undefined ? 1 : 2
  const key = Buffer.allocUnsafe(start + 4 + extra)
  key[0] = tag
  if (kind !== undefined) key[1] = kind
  key.writeUInt32BE(gen, start)
  return key
}

/** `P x gen`: marks a generation for deletion. */
export function garbageKey (gen: number): Buffer {
  return tagged(Space.projections, 0x78, gen, 0)
}

/** The range of garbage markers. */
export const GARBAGE_RANGE = { gte: namedKey(Space.projections, 'x'), lt: namedKey(Space.projections, 'y') }

/** The generation of a garbage marker. */
export function garbageGen (key: Buffer): number {
  return key.readUInt32BE(2)
}

/** `V gen`: the prefix of a generation's documents. */
export function viewPrefix (gen: number): Buffer {
  return tagged(Space.views, undefined, gen, 0)
}

/** `V gen key`. */
export function viewKey (gen: number, key: string): Buffer {
  const length = Buffer.byteLength(key)
  const out = tagged(Space.views, undefined, gen, length)
  out.write(key, 5, 'utf8')
  return out
}

/** The view key of a `V gen key` key. */
export function viewKeyName (key: Buffer): string {
  return key.toString('utf8', 5)
}

/** `H gen`: the prefix of a generation's history. */
export function historyPrefix (gen: number): Buffer {
  return tagged(Space.history, undefined, gen, 0)
}

function escapedLength (bytes: Buffer): number {
  let n = bytes.length
  for (const b of bytes) if (b < 2) n++
  return n
}

/** `H gen key* end`, where `end` is 0x00 (before the key's blocks) or 0x01 (after them). */
export function historyKeyBound (gen: number, key: string, end: 0 | 1): Buffer {
  return historyKeyWith(gen, key, end, undefined)
}

/** `H gen key* 0x00 first`. */
export function historyKey (gen: number, key: string, first: number): Buffer {
  return historyKeyWith(gen, key, 0, first)
}

function historyKeyWith (gen: number, key: string, end: 0 | 1, first: number | undefined): Buffer {
  const bytes = Buffer.from(key, 'utf8')
  const length = escapedLength(bytes)
  const out = tagged(Space.history, undefined, gen, length + 1 + (first === undefined ? 0 : 8))
  let o = 5
  for (const b of bytes) {
    if (b < 2) {
      out[o++] = 1
      out[o++] = b + 1
    } else {
      out[o++] = b
    }
  }
  out[o++] = end
  if (first !== undefined) writeU64(out, first, o)
  return out
}

/** The escaped view key of a history key, as bytes still escaped (for grouping). */
export function historyKeyPart (key: Buffer): Buffer {
  return key.subarray(5, key.length - 9)
}

/** The view key of an escaped part. */
export function unescapeKey (part: Buffer): string {
  if (!part.includes(1)) return part.toString('utf8')
  const out = Buffer.allocUnsafe(part.length)
  let o = 0
  for (let i = 0; i < part.length; i++) out[o++] = part[i] === 1 ? part[++i]! - 1 : part[i]!
  return out.toString('utf8', 0, o)
}

/** The first position of a history block's key. */
export function historyKeyFirst (key: Buffer): number {
  return readU64(key, key.length - 8)!
}
