// UUIDs as 16 bytes and as their canonical text (lowercase hex with dashes, RFC 9562), and new
// UUIDv7s: 48 bits of milliseconds since the epoch, then 74 random bits.
import { randomFillSync } from 'node:crypto'

const TWO_32 = 0x100000000
const pool = Buffer.allocUnsafe(16 * 256)
let poolOffset = pool.length

/** The 16 bytes of a new UUIDv7 made at `now` (a view into a pool: copy them to keep them). */
export function newUuidV7Bytes (now = Date.now()): Buffer {
  if (poolOffset === pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const b = pool.subarray(poolOffset, poolOffset + 16)
  poolOffset += 16
  const high = Math.floor(now / TWO_32)
  const low = now >>> 0
  b[0] = high >>> 8 & 0xff
  b[1] = high & 0xff
  b[2] = low >>> 24
  b[3] = low >>> 16 & 0xff
  b[4] = low >>> 8 & 0xff
  b[5] = low & 0xff
  b[6] = 0x70 | b[6]! & 0x0f // version 7
  b[8] = 0x80 | b[8]! & 0x3f // variant 10
  return b
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The canonical text of the 16 bytes at `offset`. */
export function formatUuid (b: Uint8Array, offset = 0): string {
  return HEX[b[offset]!]! + HEX[b[offset + 1]!]! + HEX[b[offset + 2]!]! + HEX[b[offset + 3]!]! + '-' +
    HEX[b[offset + 4]!]! + HEX[b[offset + 5]!]! + '-' +
    HEX[b[offset + 6]!]! + HEX[b[offset + 7]!]! + '-' +
    HEX[b[offset + 8]!]! + HEX[b[offset + 9]!]! + '-' +
    HEX[b[offset + 10]!]! + HEX[b[offset + 11]!]! + HEX[b[offset + 12]!]! + HEX[b[offset + 13]!]! + HEX[b[offset + 14]!]! + HEX[b[offset + 15]!]!
}

/** The 16 bytes of a UUID in canonical text, or undefined when `text` is not one (uppercase is not canonical). */
export function parseUuid (text: string): Buffer | undefined {
  if (text.length !== 36 || !CANONICAL.test(text)) return undefined
  return Buffer.from(text.slice(0, 8) + text.slice(9, 13) + text.slice(14, 18) + text.slice(19, 23) + text.slice(24), 'hex')
}
