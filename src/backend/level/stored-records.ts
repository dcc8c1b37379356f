// The log's events as stored, for an owner to send to a client (net/serve.ts): a read of the
// log (readers.ts) hands out each event's position, commit time and bytes, not the event, so
// the owner neither decodes it nor encodes it again; the client reads the whole event from the
// bytes (net/records.ts), and fails its read with ANNALS_CORRUPT on bytes that do not read.
import { AnnalsError } from '../../errors.js'
import { MalformedError } from './bytes.js'
import { peekEvent, type Accept } from './event-record.js'

/** An event of the log as stored: its position, commit time and bytes (see event-record.ts), for an owner to send to a client, which decodes it. */
export interface StoredRecord {
  position: number
  time: number
  bytes: Buffer
}

/** A source of stored records in chunks; an empty chunk means the end. */
export interface RecordChunks {
  next (): Promise<StoredRecord[]>
  close (): Promise<void>
}

/** A record kept when `accept` takes its header (the header is read only then: the client reads the whole event, and fails its read on bytes that do not). */
export function record (buffer: Buffer, start: number, end: number, position: number, time: number, accept: Accept | undefined, where: () => AnnalsError): StoredRecord | undefined {
  if (accept !== undefined) {
    let header
    try {
      header = peekEvent(buffer, start, end)
    } catch (err) {
      if (err instanceof MalformedError || !(err instanceof AnnalsError)) throw where()
      throw err
    }
    if (!accept(header, position, time)) return undefined
  }
  return { position, time, bytes: buffer.subarray(start, end) }
}
