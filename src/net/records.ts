// The log's events as they cross from protocol 3 on: each as its stored bytes (the event
// record of backend/level/event-record.ts) behind its position, commit time and length, all of
// a chunk in one MessagePack bin. The owner copies bytes; the client reads each event from them
// as the owner's own read would (a record that does not read fails with ANNALS_CORRUPT).
import { AnnalsError } from '../errors.js'
import type { RecordedEvent } from '../log/types.js'
import { corruptChunk } from '../backend/level/chunk.js'
import { decodeAt } from '../backend/level/readers.js'
import type { StoredRecord } from '../backend/level/stored-records.js'

/** Bytes before each record: position and time (float64, exact up to 2^53), length (uint32). */
const HEAD = 20

/**
 * The records as one buffer.
 *
 * @example
 * ```ts
 * const bytes = encodeRecords(await chunks.next()) // the owner's answer to a client's read
 * ```
 */
export function encodeRecords (records: readonly StoredRecord[]): Buffer {
  let size = 0
  for (const r of records) size += HEAD + r.bytes.length
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (const r of records) {
    out.writeDoubleLE(r.position, at)
    out.writeDoubleLE(r.time, at + 8)
    out.writeUInt32LE(r.bytes.length, at + 16)
    r.bytes.copy(out, at + HEAD)
    at += HEAD + r.bytes.length
  }
  return out
}

/**
 * The events of records as {@link encodeRecords} put them, decoded as the owner's read would
 * (sealed fields stay sealed, marked for the log above to open). Throws ANNALS_CORRUPT on a
 * record that does not read.
 *
 * @example
 * ```ts
 * const events = decodeRecords(bytes) // in the client
 * ```
 */
export function decodeRecords (bytes: Uint8Array): RecordedEvent[] {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const events: RecordedEvent[] = []
  let at = 0
  while (at < buffer.length) {
    if (buffer.length - at < HEAD) throw new AnnalsError('ANNALS_CORRUPT', 'The owner\'s answer ends inside a record')
    const position = buffer.readDoubleLE(at)
    const time = buffer.readDoubleLE(at + 8)
    const end = at + HEAD + buffer.readUInt32LE(at + 16)
    if (end > buffer.length || !Number.isSafeInteger(position)) throw new AnnalsError('ANNALS_CORRUPT', 'The owner\'s answer ends inside a record')
    events.push(decodeAt(buffer, at + HEAD, end, position, time, undefined, () => corruptChunk(position, 'its event does not decode'))!)
    at = end
  }
  return events
}
