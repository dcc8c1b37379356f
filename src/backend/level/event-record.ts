// An event as bytes, inside the log's chunks and the streams' blocks (the same bytes in both):
//
//   flags            u8: 1 id is a UUID (16 bytes), 2 data holds sealed fields, 4 metadata
//                    follows the data, 8 a schema version follows the type, 16 tags follow,
//                    32 the id is in the id index
//   id               16 bytes, or a length-prefixed UTF-8 string
//   revision         varint
//   stream, type     length-prefixed UTF-8
//   version          varint, when flagged (else 1)
//   tags             varint count, then length-prefixed UTF-8 each, when flagged
//   data             length-prefixed MessagePack
//   metadata         MessagePack, the rest of the bytes, when flagged
//
// Position and commit time are not in the event's bytes: its chunk (or block) gives them.
import { sealedEvents, type ReadyEvent } from '../backend.js'
import type { RecordedEvent } from '../../log/types.js'
import { decode } from '../../storage/codec.js'
import { formatUuid, parseUuid } from '../../storage/uuid.js'
import { MalformedError, Reader, type Writer } from './bytes.js'

const UUID = 1
const SEALED = 2
const METADATA = 4
const VERSION = 8
const TAGS = 16
const INDEXED = 32
const KNOWN = UUID | SEALED | METADATA | VERSION | TAGS | INDEXED

/** Writes the bytes of an event of `stream` at `revision`. */
export function writeEvent (w: Writer, stream: string, revision: number, e: ReadyEvent): void {
  const uuid = e.idBytes ?? parseUuid(e.id)
  const flags = (uuid === undefined ? 0 : UUID) | (e.sealed ? SEALED : 0) | (e.metadata === undefined ? 0 : METADATA) |
    (e.version === 1 ? 0 : VERSION) | (e.tags === undefined || e.tags.length === 0 ? 0 : TAGS) | (e.indexed ? INDEXED : 0)
  w.byte(flags)
  if (uuid !== undefined) w.bytes(uuid)
  else w.string(e.id)
  w.varint(revision)
  w.string(stream)
  w.string(e.type)
  if ((flags & VERSION) !== 0) w.varint(e.version)
  if ((flags & TAGS) !== 0) {
    w.varint(e.tags!.length)
    for (const tag of e.tags!) w.string(tag)
  }
  w.lengthPrefixed(e.data)
  if (e.metadata !== undefined) w.bytes(e.metadata)
}

/** At least the bytes {@link writeEvent} writes, for a buffer's size; `stream` as its UTF-8 length, or itself. */
export function eventSize (stream: string | number, e: ReadyEvent): number {
  let n = 1 + 16 + 9 + 5 + (typeof stream === 'number' ? stream : Buffer.byteLength(stream)) + 5 + 3 * e.type.length + 5 + 5 + e.data.length + (e.metadata?.length ?? 0)
  if (e.idBytes === undefined) n += 3 * e.id.length
  for (const tag of e.tags ?? []) n += 5 + Buffer.byteLength(tag)
  return n
}

/** What an event's first bytes say, without decoding its data. */
export interface EventHeader {
  id: string
  revision: number
  stream: string
  type: string
  version: number
  tags: string[] | undefined
  sealed: boolean
  indexed: boolean
}

function readHeader (r: Reader, flags: number): EventHeader {
  if ((flags & ~KNOWN) !== 0) throw new MalformedError('unknown flags')
  const id = (flags & UUID) !== 0 ? formatUuid(r.bytes(16)) : r.string()
  const revision = r.varint()
  const stream = r.string()
  const type = r.string()
  const version = (flags & VERSION) !== 0 ? r.varint() : 1
  let tags: string[] | undefined
  if ((flags & TAGS) !== 0) {
    const n = r.varint()
    tags = []
    for (let i = 0; i < n; i++) tags.push(r.string())
  }
  return { id, revision, stream, type, version, tags, sealed: (flags & SEALED) !== 0, indexed: (flags & INDEXED) !== 0 }
}

/** An event's header and its data and metadata as stored bytes. */
export interface EventParts extends EventHeader {
  data: Buffer
  metadata: Buffer | undefined
}

/** The header, data and metadata bytes of the event whose bytes are `buffer[start..end)`. Throws MalformedError. */
export function eventParts (buffer: Buffer, start: number, end: number): EventParts {
  const r = new Reader(buffer, start, end)
  const flags = r.byte()
  const header = readHeader(r, flags)
  const data = r.lengthPrefixed()
  const metadata = (flags & METADATA) !== 0 ? r.bytes(r.end - r.offset) : undefined
  return { ...header, data, metadata }
}

/** The header of the event whose bytes are `buffer[start..end)`. Throws MalformedError. */
export function peekEvent (buffer: Buffer, start: number, end: number): EventHeader {
  const r = new Reader(buffer, start, end)
  return readHeader(r, r.byte())
}

/** Which events a read keeps, by their header: their data is not decoded for the others. */
export type Accept = (header: EventHeader) => boolean

/**
 * The event whose bytes are `buffer[start..end)`, at `position` and `time`, as stored (sealed
 * fields stay sealed); undefined when `accept` refuses its header (its data is then not
 * decoded). Throws MalformedError, or what the codec throws on bad MessagePack.
 */
export function readEvent (buffer: Buffer, start: number, end: number, position: number, time: number, accept?: Accept): RecordedEvent | undefined {
  const r = new Reader(buffer, start, end)
  const flags = r.byte()
  const h = readHeader(r, flags)
  if (accept !== undefined && !accept(h)) return undefined
  const data = decode(r.lengthPrefixed())
  let metadata: Record<string, unknown> = {}
  if ((flags & METADATA) !== 0) {
    const m = decode(r.bytes(r.end - r.offset))
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new MalformedError('metadata that is not an object')
    metadata = m as Record<string, unknown>
  } else if (!r.done) {
    throw new MalformedError('bytes after the data')
  }
  const event: RecordedEvent = {
    id: h.id,
    stream: h.stream,
    revision: h.revision,
    position,
    type: h.type,
    version: h.version,
    data: data === undefined ? null : data,
    metadata,
    time
  }
  if (h.tags !== undefined && h.tags.length > 0) event.tags = h.tags
  if (h.sealed) sealedEvents.add(event)
  return event
}
