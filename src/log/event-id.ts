// Generated event ids: UUIDv7 (RFC 9562): 48 bits of milliseconds since the epoch, then 74
// random bits. They sort by creation time, and are made where the append is made (in the
// process that appends, before anything is sent or written), so a retry can send them again.
import { randomFillSync } from 'node:crypto'
import { formatUuid } from '../storage/uuid.js'

const TWO_32 = 0x100000000
const pool = Buffer.allocUnsafe(16 * 256)
let poolOffset = pool.length

/** A new UUIDv7, for an event appended now. */
export function newEventId (now = Date.now()): string {
  return formatUuid(newEventIdBytes(now))
}

/** The 16 bytes of a new UUIDv7 (a view into a pool: copy them to keep them). */
export function newEventIdBytes (now = Date.now()): Buffer {
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
