// Generated event ids: UUIDv7 (RFC 9562) whose 74 "random" bits carry the event's position
// (53 bits) followed by 21 random bits. They sort by commit time, then by position, like the log.
// Because the position is inside the id, the log finds an event by a generated id with one read
// of the record at that position, and needs no id index entry for it. And because time and
// position are in the record and its key already, a record stores only the 21 random bits: the
// id is formatted when the event is read (about 38 bytes and a string encoding saved per event).
import { randomFillSync } from 'node:crypto'

const TWO_32 = 0x100000000
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const pool = Buffer.allocUnsafe(3 * 1024)
let poolOffset = pool.length
// the first 14 characters depend on the time alone, and a batch shares one time
let prefixTime = -1
let prefix = ''

/** 21 random bits for the id of a new event. */
export function randomIdBits (): number {
  if (poolOffset === pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const r = pool[poolOffset]! << 16 | pool[poolOffset + 1]! << 8 | pool[poolOffset + 2]!
  poolOffset += 3
  return r & 0x1fffff
}

/** The UUIDv7 of the event at `position`, committed at `time` (ms since the epoch), with `rand` (21 bits). */
export function formatEventId (time: number, position: number, rand: number): string {
  if (time !== prefixTime) {
    const high = Math.floor(time / TWO_32) // 16 bits
    const low = time >>> 0
    prefix = HEX[high >>> 8 & 0xff]! + HEX[high & 0xff]! + HEX[low >>> 24]! + HEX[low >>> 16 & 0xff]! + '-' +
      HEX[low >>> 8 & 0xff]! + HEX[low & 0xff]! + '-'
    prefixTime = time
  }
  const hi = Math.floor(position / TWO_32) // position bits 52..32
  const lo = position >>> 0
  const mid = ((hi & 7) << 29 | lo >>> 3) >>> 0 // bits 34..3
  return prefix +
    HEX[0x70 | hi >>> 17]! + HEX[hi >>> 9 & 0xff]! + '-' + // version 7, position bits 52..41
    HEX[0x80 | hi >>> 3 & 0x3f]! + HEX[mid >>> 24]! + '-' + // variant 10, bits 40..35, then 34..27
    HEX[mid >>> 16 & 0xff]! + HEX[mid >>> 8 & 0xff]! + HEX[mid & 0xff]! + // bits 26..3
    HEX[(lo & 7) << 5 | rand >>> 16]! + HEX[rand >>> 8 & 0xff]! + HEX[rand & 0xff]! // bits 2..0, random
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/**
 * The position a generated id would carry, or undefined when `id` is not a UUIDv7. Any UUIDv7
 * decodes to some number: the caller confirms by reading the record there.
 */
export function positionInEventId (id: string): number | undefined {
  if (id.length !== 36 || !UUID_V7.test(id)) return undefined
  const hex = id.slice(14, 18) + id.slice(19, 23) + id.slice(24)
  // hex: 7xxx (version + bits 52..41), yyyy (variant + 40..35, then bits 34..27), zzzzzzzzzzzz
  const b = Buffer.from(hex, 'hex') // 10 bytes = bytes 6..15 of the uuid
  const hi = (b[0]! & 0x0f) << 17 | b[1]! << 9 | (b[2]! & 0x3f) << 3 | b[3]! >>> 5
  const mid = b.readUInt32BE(3) // bits 34..3 as laid out
  const lo = ((mid & 0x1fffffff) << 3 | b[7]! >>> 5) >>> 0
  return hi * TWO_32 + lo
}
