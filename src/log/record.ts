// Records: an event as bytes at rest. One MessagePack array per event, keyed by its position:
//   [format, id, stream, revision, type, time, data, metadata]
// Arrays rather than maps keep field names out of every record (smaller, faster to decode).
// `id` is the caller's string, or the 21 random bits of a generated id (see event-id.ts).
import { AnnalsError } from '../errors.js'
import { decodeWithExtensions, encode } from '../storage/codec.js'
import { formatEventId } from './event-id.js'
import type { RecordedEvent } from './types.js'

const FORMAT = 1

/** The fields of a record, as the writer assigns them. */
export interface RecordFields {
  /** the caller's id, or the random bits of a generated one */
  id: string | number
  stream: string
  revision: number
  type: string
  time: number
  data: unknown
  metadata: Record<string, unknown> | undefined
}

/** Encodes a record. Throws `UnencodableError` when data or metadata cannot be encoded. */
export function encodeRecord (r: RecordFields): Buffer {
  const metadata = r.metadata === undefined || isEmpty(r.metadata) ? null : r.metadata
  return encode([FORMAT, r.id, r.stream, r.revision, r.type, r.time, r.data, metadata])
}

/**
 * Events whose records hold extension values (sealed personal fields): the event transform
 * opens those, and skips the rest without looking.
 */
export const withExtensions = new WeakSet<RecordedEvent>()

/** Decodes the record stored at `position`; `ANNALS_CORRUPT` naming the position if it does not. */
export function decodeRecord (position: number, bytes: Uint8Array): RecordedEvent {
  let r: unknown
  let extensions: boolean
  try {
    [r, extensions] = decodeWithExtensions(bytes)
  } catch (err) {
    throw corrupt(position, err)
  }
  if (!Array.isArray(r) || r.length !== 8 || r[0] !== FORMAT || (typeof r[1] !== 'string' && typeof r[1] !== 'number') ||
      typeof r[2] !== 'string' || typeof r[3] !== 'number' || typeof r[4] !== 'string' ||
      typeof r[5] !== 'number' || (r[7] !== null && typeof r[7] !== 'object')) {
    throw corrupt(position)
  }
  const event: RecordedEvent = {
    id: typeof r[1] === 'string' ? r[1] : formatEventId(r[5], position, r[1]),
    stream: r[2],
    revision: r[3],
    position,
    type: r[4],
    data: r[6] === undefined ? null : r[6],
    metadata: r[7] ?? {},
    time: r[5]
  }
  if (extensions) withExtensions.add(event)
  return event
}

function corrupt (position: number, cause?: unknown): AnnalsError {
  return new AnnalsError('ANNALS_CORRUPT', `The record at position ${position} does not decode`, { cause })
}

function isEmpty (o: object): boolean {
  for (const _ in o) return false
  return true
}
