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
import { decodeRange } from '../../storage/codec.js'
import { formatUuid, parseUuid } from '../../storage/uuid.js'
import { MalformedError, type Writer } from './bytes.js'

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

// Reading is the hot path of every read: the fields are read by plain functions over the bytes
// (no reader object, no view per field), and short ASCII names are made without the UTF-8 decoder.
let buf: Buffer = Buffer.alloc(0)
let at = 0
let stop = 0

function begin (buffer: Buffer, start: number, end: number): number {
  buf = buffer
  at = start
  stop = end
  if (at >= stop) throw new MalformedError('ends early')
  const flags = buf[at++]!
  if ((flags & ~KNOWN) !== 0) throw new MalformedError('unknown flags')
  return flags
}

function varint (): number {
  let n = 0
  let scale = 1
  for (;;) {
    if (at >= stop || scale > 2 ** 49) throw new MalformedError('a malformed number')
    const b = buf[at++]!
    n += (b & 0x7f) * scale
    if (b < 0x80) return n
    scale *= 0x80
  }
}

/** The end of a length-prefixed field that starts here; `at` moves to its first byte. */
function field (): number {
  const n = varint()
  if (n > stop - at) throw new MalformedError('ends early')
  return at + n
}

function string (): string {
  const end = field()
  const start = at
  at = end
  if (end - start <= 24) {
    let s = ''
    for (let i = start; i < end; i++) {
      const b = buf[i]!
      if (b >= 0x80) return buf.toString('utf8', start, end)
      s += String.fromCharCode(b)
    }
    return s
  }
  return buf.toString('utf8', start, end)
}

function id (flags: number): string {
  if ((flags & UUID) === 0) return string()
  if (stop - at < 16) throw new MalformedError('ends early')
  at += 16
  return formatUuid(buf, at - 16)
}

function tags (flags: number): string[] | undefined {
  if ((flags & TAGS) === 0) return undefined
  const n = varint()
  const list: string[] = []
  for (let i = 0; i < n; i++) list.push(string())
  return list
}

function readHeader (flags: number): EventHeader {
  const eventId = id(flags)
  const revision = varint()
  const stream = string()
  const type = string()
  const version = (flags & VERSION) !== 0 ? varint() : 1
  return { id: eventId, revision, stream, type, version, tags: tags(flags), sealed: (flags & SEALED) !== 0, indexed: (flags & INDEXED) !== 0 }
}

/** An event's header and its data and metadata as stored bytes. */
export interface EventParts extends EventHeader {
  data: Buffer
  metadata: Buffer | undefined
}

/** The header, data and metadata bytes of the event whose bytes are `buffer[start..end)`. Throws MalformedError. */
export function eventParts (buffer: Buffer, start: number, end: number): EventParts {
  const flags = begin(buffer, start, end)
  const parts = readHeader(flags) as EventParts
  const dataEnd = field()
  parts.data = buf.subarray(at, dataEnd)
  parts.metadata = (flags & METADATA) !== 0 ? buf.subarray(dataEnd, stop) : undefined
  return parts
}

/** The header of the event whose bytes are `buffer[start..end)`. Throws MalformedError. */
export function peekEvent (buffer: Buffer, start: number, end: number): EventHeader {
  return readHeader(begin(buffer, start, end))
}

/** Which events a read keeps, by their header, position and commit time: their data is not decoded for the others. */
export type Accept = (header: EventHeader, position: number, time: number) => boolean

/**
 * The event whose bytes are `buffer[start..end)`, at `position` and `time`, as stored (sealed
 * fields stay sealed); undefined when `accept` refuses its header (its data is then not
 * decoded). Throws MalformedError, or what the codec throws on bad MessagePack. `raw`: its data
 * and metadata are left as their stored bytes (metadata null when it has none), for an owner
 * to send to a client, which decodes them ({@link openRawEvent}).
 */
export function readEvent (buffer: Buffer, start: number, end: number, position: number, time: number, accept?: Accept, raw = false): RecordedEvent | undefined {
  const flags = begin(buffer, start, end)
  let eventId: string, revision: number, stream: string, type: string, version: number, eventTags: string[] | undefined
  if (accept === undefined) {
    eventId = id(flags)
    revision = varint()
    stream = string()
    type = string()
    version = (flags & VERSION) !== 0 ? varint() : 1
    eventTags = tags(flags)
  } else {
    const h = readHeader(flags)
    if (!accept(h, position, time)) return undefined
    ;({ id: eventId, revision, stream, type, version, tags: eventTags } = h)
  }
  const dataEnd = field()
  const dataStart = at
  const hasMetadata = (flags & METADATA) !== 0
  if (!hasMetadata && dataEnd !== stop) throw new MalformedError('bytes after the data')
  if (raw) {
    const event = { id: eventId, stream, revision, position, type, version, data: buffer.subarray(dataStart, dataEnd), metadata: hasMetadata ? buffer.subarray(dataEnd, end) : null, time } as unknown as RecordedEvent
    if (eventTags !== undefined && eventTags.length > 0) event.tags = eventTags
    if ((flags & SEALED) !== 0) sealedEvents.add(event)
    return event
  }
  const data = decodeRange(buffer, dataStart, dataEnd)
  let metadata: Record<string, unknown> = {}
  if (hasMetadata) {
    const m = decodeRange(buffer, dataEnd, end)
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new MalformedError('metadata that is not an object')
    metadata = m as Record<string, unknown>
  }
  const event: RecordedEvent = {
    id: eventId,
    stream,
    revision,
    position,
    type,
    version,
    data: data === undefined ? null : data,
    metadata,
    time
  }
  if (eventTags !== undefined && eventTags.length > 0) event.tags = eventTags
  if ((flags & SEALED) !== 0) sealedEvents.add(event)
  return event
}

/** The bytes a raw event's fields lie in, whole: decoded by ranges of one Buffer, so that the codec reuses its view of them. */
let whole: Buffer = Buffer.alloc(0)

function decodeBytes (bytes: Uint8Array): unknown {
  if (whole.buffer !== bytes.buffer) whole = Buffer.from(bytes.buffer)
  return decodeRange(whole, bytes.byteOffset, bytes.byteOffset + bytes.length)
}

/**
 * Decodes the data and metadata of an event read `raw` (see {@link readEvent}) in place, as
 * readEvent would have. Throws MalformedError, or what the codec throws on bad MessagePack.
 */
export function openRawEvent (event: RecordedEvent): void {
  const data = decodeBytes(event.data as Uint8Array)
  event.data = data === undefined ? null : data
  const m = event.metadata as unknown as Uint8Array | null
  if (m === null) {
    event.metadata = {}
    return
  }
  const metadata = decodeBytes(m)
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new MalformedError('metadata that is not an object')
  event.metadata = metadata as Record<string, unknown>
}
