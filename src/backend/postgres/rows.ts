// An event as a row of the events table, and back. Every row carries a checksum of its content
// (`sum`: CRC-32 of the stream, revision, id, type, version, tags, data, metadata, sealed flag
// and digest), computed where the event is written and verified wherever it is read; positions
// and times are checked by the readers instead (contiguous, never decreasing).
import { crc32 } from 'node:zlib'
import { AnnalsError } from '../../errors.js'
import type { RecordedEvent } from '../../log/types.js'
import { decode } from '../../storage/codec.js'
import { sealedEvents, type ReadyEvent } from '../backend.js'

/** The columns of an event, as the readers select them. */
export const EVENT_COLUMNS = 'position, stream, revision, id, type, version, tags, data, metadata, sealed, digest, time, sum'

/** A row of the events table as pg gives it (bigints as numbers). */
export interface EventRow {
  position: number
  stream: string
  revision: number
  id: string
  type: string
  version: number
  tags: string[] | null
  data: Buffer
  metadata: Buffer | null
  sealed: boolean
  digest: Buffer | null
  time: number
  sum: number
}

/** What the checksum covers. */
interface Summed {
  stream: string
  revision: number
  id: string
  type: string
  version: number
  tags: readonly string[] | null | undefined
  data: Buffer
  metadata: Buffer | null | undefined
  sealed: boolean
  digest: Buffer | null | undefined
}

/** The checksum of an event's content, as a signed 32-bit integer (the column's type). */
export function eventSum (e: Summed): number {
  const tags = e.tags === null || e.tags === undefined || e.tags.length === 0 ? undefined : e.tags
  const header = `${e.stream}\u0000${e.revision}\u0000${e.id}\u0000${e.type}\u0000${e.version}\u0000${e.sealed ? 1 : 0}\u0000` +
    `${tags?.length ?? 0}\u0000${tags?.join('\u0000') ?? ''}\u0000${e.data.length}\u0000${e.metadata?.length ?? -1}\u0000${e.digest?.length ?? -1}`
  let sum = crc32(header)
  sum = crc32(e.data, sum)
  if (e.metadata !== undefined && e.metadata !== null) sum = crc32(e.metadata, sum)
  if (e.digest !== undefined && e.digest !== null) sum = crc32(e.digest, sum)
  return sum | 0
}

/** The checksum of an event about to be written at `revision` of `stream`. */
export function readySum (stream: string, revision: number, e: ReadyEvent): number {
  return eventSum({ stream, revision, id: e.id, type: e.type, version: e.version, tags: e.tags, data: e.data, metadata: e.metadata, sealed: e.sealed, digest: e.digest })
}

/** ANNALS_CORRUPT naming a position. */
export function corruptAt (position: number, why: string): AnnalsError {
  return new AnnalsError('ANNALS_CORRUPT', `The log is damaged at position ${position}: ${why}`)
}

/** Fails with ANNALS_CORRUPT unless the row's checksum holds. */
export function checkSum (row: EventRow): void {
  if (eventSum(row) !== row.sum) throw corruptAt(row.position, 'its checksum does not match')
}

/**
 * The event a row holds, as stored (sealed fields stay sealed), after checking its checksum;
 * ANNALS_CORRUPT when it does not hold or the bytes do not decode.
 */
export function rowEvent (row: EventRow): RecordedEvent {
  checkSum(row)
  let data: unknown
  let metadata: Record<string, unknown> = {}
  try {
    data = decode(row.data)
    if (row.metadata !== null) {
      const m = decode(row.metadata)
      if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error('metadata that is not an object')
      metadata = m as Record<string, unknown>
    }
  } catch (err) {
    throw new AnnalsError('ANNALS_CORRUPT', `The log is damaged at position ${row.position}: its event does not decode`, { cause: err })
  }
  const event: RecordedEvent = {
    id: row.id,
    stream: row.stream,
    revision: row.revision,
    position: row.position,
    type: row.type,
    version: row.version,
    data: data === undefined ? null : data,
    metadata,
    time: row.time
  }
  if (row.tags !== null && row.tags.length > 0) event.tags = row.tags
  if (row.sealed) sealedEvents.add(event)
  return event
}
