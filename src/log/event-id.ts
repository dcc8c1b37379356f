// Generated event ids: UUIDv7 (RFC 9562): 48 bits of milliseconds since the epoch, then 74
// random bits. They sort by creation time, and are made where the append is made (in the
// process that appends, before anything is sent or written), so a retry can send them again.
import { formatUuid, newUuidV7Bytes } from '../storage/uuid.js'

/** A new UUIDv7, for an event appended now. */
export function newEventId (now = Date.now()): string {
  return formatUuid(newUuidV7Bytes(now))
}

/** The 16 bytes of a new UUIDv7 (a view into a pool: copy them to keep them). */
export function newEventIdBytes (now = Date.now()): Buffer {
  return newUuidV7Bytes(now)
}
