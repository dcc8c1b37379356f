// What crosses to a client of protocol 2 or 3 (a process of an older annals, during a deploy):
// events' data as MessagePack maps, the only layout it reads. From protocol 4 on, data crosses as
// stored, in the column layout too (storage/columns.ts); for an older client the owner encodes
// the data of such events again, as maps, and leaves every other byte as it is.
import type { ReadyEvent } from '../backend/backend.js'
import { Writer } from '../backend/level/bytes.js'
import { eventParts, writeEvent } from '../backend/level/event-record.js'
import type { StoredRecord } from '../backend/level/stored-records.js'
import type { RecordedEvent } from '../log/types.js'
import { COLUMNS } from '../storage/columns.js'
import { decode, encode } from '../storage/codec.js'

/** Data in the column layout encoded again as a map; other data as it is. */
function asMap (data: Buffer): Buffer {
  return data[0] === COLUMNS ? encode(decode(data)) : data
}

/**
 * Events read raw (their data as stored bytes), with the data of those in the column layout
 * encoded again as maps, in place.
 *
 * @example
 * ```ts
 * const page = encodeEvents(client.protocol < COLUMNS_PROTOCOL ? rawEventsAsMaps(events) : events, true)
 * ```
 */
export function rawEventsAsMaps (events: RecordedEvent[]): RecordedEvent[] {
  for (const e of events) e.data = asMap(e.data as Buffer)
  return events
}

/**
 * Stored records, each rebuilt where its event's data is in the column layout, with the data as
 * a map; the others as they are. A record that does not read is left as it is: the client's
 * read fails on it, as it would have.
 *
 * @example
 * ```ts
 * const bytes = encodeRecords(client.protocol < COLUMNS_PROTOCOL ? recordsAsMaps(records) : records)
 * ```
 */
export function recordsAsMaps (records: StoredRecord[]): StoredRecord[] {
  return records.map(r => {
    let parts
    try {
      parts = eventParts(r.bytes, 0, r.bytes.length)
    } catch {
      return r
    }
    if (parts.data[0] !== COLUMNS) return r
    const event: ReadyEvent = {
      id: parts.id,
      indexed: parts.indexed,
      fresh: false,
      type: parts.type,
      version: parts.version,
      tags: parts.tags,
      data: asMap(parts.data),
      metadata: parts.metadata,
      sealed: parts.sealed,
      digest: undefined
    }
    const w = new Writer(r.bytes.length + 64)
    writeEvent(w, parts.stream, parts.revision, event)
    return { position: r.position, time: r.time, bytes: w.done() }
  })
}
