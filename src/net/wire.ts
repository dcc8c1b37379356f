// What crosses the socket between an owner and its clients, and how: MessagePack messages
// (annals' own codec, so values cross exactly as they are stored, sealed personal fields
// included as the Sealed extension) each behind a 4-byte length. Errors cross with their
// class, code and properties; stored events with the mark of those holding sealed fields.
import { AnnalsError, type AnnalsErrorCode } from '../errors.js'
import { sealedEvents, type AppendPart, type ReadyEvent } from '../backend/backend.js'
import type { AppendResult, ExpectedRevision, RecordedEvent } from '../log/types.js'
import { openRawEvent } from '../backend/level/event-record.js'
import { decode, encode } from '../storage/codec.js'

/**
 * The protocol's newest version, spoken when both sides know it. 3: the log's events cross as
 * the records stored (records.ts), and an event to append says whether it is fresh. 4: events'
 * data may cross in the column layout (storage/columns.ts), both ways; a client of 2 or 3 gets
 * it as maps (older-clients.ts), and sends maps.
 */
export const PROTOCOL = 4

/** The protocol from which events' data crosses in the column layout, either way. */
export const COLUMNS_PROTOCOL = 4

/**
 * The oldest version still spoken, either side: a process of the version before (a deploy: the
 * new one starting while the old one drains) and this one talk in it. A peer that speaks none
 * of this one's versions is refused with ANNALS_LOCKED, which names both.
 */
export const OLDEST_PROTOCOL = 2

/** Largest message accepted: a frame past it means the stream is garbage. */
const MAX_FRAME = 1 << 30

/** One message as bytes: its length, then its MessagePack. */
export function frame (message: unknown): Buffer {
  const body = encode(message)
  const out = Buffer.allocUnsafe(4 + body.length)
  out.writeUInt32BE(body.length, 0)
  body.copy(out, 4)
  return out
}

/** Cuts a byte stream into messages. */
export class FrameReader {
  #pending: Buffer[] = []
  #length = 0

  /** The messages completed by `chunk`; throws on a malformed stream. */
  push (chunk: Buffer): unknown[] {
    this.#pending.push(chunk)
    this.#length += chunk.length
    const out: unknown[] = []
    while (this.#length >= 4) {
      let head = this.#pending[0]!
      if (head.length < 4) head = this.#join()
      const size = head.readUInt32BE(0)
      if (size > MAX_FRAME) throw new AnnalsError('ANNALS_CORRUPT', `A message of ${size} bytes: the peer does not speak this protocol`)
      if (this.#length < 4 + size) break
      if (head.length < 4 + size) head = this.#join()
      out.push(decode(head.subarray(4, 4 + size)))
      const rest = head.subarray(4 + size)
      this.#length -= 4 + size
      if (rest.length > 0) this.#pending[0] = rest
      else this.#pending.shift()
    }
    return out
  }

  #join (): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending)
    this.#pending = [all]
    return all
  }
}

/** An error as it crosses: class, code, message, own properties, and its cause (once). */
type WireError = [kind: string, code: string | undefined, message: string, props: Record<string, unknown> | undefined, cause: WireError | undefined]

const STANDARD: Record<string, new (message: string) => Error> = { TypeError, RangeError, SyntaxError, Error }

export function encodeError (err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return ['Error', undefined, String(err), undefined, undefined]
  const kind = err instanceof AnnalsError ? 'AnnalsError' : err.name in STANDARD ? err.name : 'Error'
  let props: Record<string, unknown> | undefined
  for (const key of Object.keys(err)) {
    if (key === 'code' || key === 'cause') continue
    const value = (err as unknown as Record<string, unknown>)[key]
    if (value === undefined || typeof value === 'function') continue
    try {
      encode(value)
    } catch {
      continue
    }
    ;(props ??= {})[key] = value
  }
  const code = (err as { code?: unknown }).code
  const cause = depth < 2 && err.cause !== undefined ? encodeError(err.cause, depth + 1) : undefined
  return [kind, typeof code === 'string' ? code : undefined, err.message, props, cause]
}

export function decodeError (wire: WireError): Error {
  const [kind, code, message, props, cause] = wire
  const options = cause === undefined ? undefined : { cause: decodeError(cause) }
  let err: Error
  if (kind === 'AnnalsError') {
    err = new AnnalsError(code as AnnalsErrorCode, message, options)
  } else {
    const Class = STANDARD[kind] ?? Error
    err = new Class(message)
    if (options !== undefined) (err as { cause?: unknown }).cause = options.cause
    if (code !== undefined) (err as { code?: string }).code = code
  }
  if (props !== undefined) Object.assign(err, props)
  return err
}

/**
 * Stored events as they cross: the events, the indexes of those holding sealed fields, and
 * whether their data and metadata are the stored bytes (read `raw`: the owner does not decode
 * them to encode them again, the client decodes them once).
 */
export type WireEvents = [events: RecordedEvent[], sealed: number[], raw: boolean]

export function encodeEvents (events: RecordedEvent[], raw = false): WireEvents {
  const sealed: number[] = []
  for (let i = 0; i < events.length; i++) if (sealedEvents.has(events[i]!)) sealed.push(i)
  return [events, sealed, raw]
}

/** The events of a message; those that came raw are decoded here, and fail with ANNALS_CORRUPT as an owner's read would. */
export function decodeEvents ([events, sealed, raw]: WireEvents): RecordedEvent[] {
  if (raw) {
    for (const e of events) {
      try {
        openRawEvent(e)
      } catch (err) {
        throw new AnnalsError('ANNALS_CORRUPT', `The event at position ${e.position} (${e.stream}@${e.revision}) does not decode`, { cause: err })
      }
    }
  }
  for (const i of sealed) sealedEvents.add(events[i]!)
  return events
}

/**
 * An event to append, as it crosses: without its decoded value. `fresh` came with protocol 3, at
 * the end: a peer of protocol 2 sends 10 fields, read as not fresh.
 */
export type WireReady = [id: string, idBytes: Buffer | null, indexed: boolean, type: string, version: number, tags: readonly string[] | null, data: Buffer, metadata: Buffer | null, sealed: boolean, digest: Buffer | null, fresh?: boolean]

export function encodeReady (e: ReadyEvent): WireReady {
  return [e.id, e.idBytes ?? null, e.indexed, e.type, e.version, e.tags ?? null, e.data, e.metadata ?? null, e.sealed, e.digest ?? null, e.fresh]
}

/**
 * An event to append, from the wire. Its id was made in the client, which may send the append
 * again after a lost connection; it is `fresh` only on its first sending (the client's
 * SwitchingBackend sends it again as not fresh, once the owner may have written it): the
 * writer then looks it up and answers the re-send as the first time. A fresh one is not looked
 * up (measured: the look-up cost each batch of a client's appends a read of LevelDB's).
 */
export function decodeReady (w: WireReady): ReadyEvent {
  const [id, idBytes, indexed, type, version, tags, data, metadata, sealed, digest, fresh] = w
  const e: ReadyEvent = {
    id, indexed, fresh: fresh === true, type, version, tags: tags ?? undefined, data: buffer(data), metadata: metadata === null ? undefined : buffer(metadata),
    sealed, digest: digest === null ? undefined : buffer(digest)
  }
  if (idBytes !== null) e.idBytes = buffer(idBytes)
  return e
}

/** The parts of an append to several streams, as they cross. */
export type WireParts = Array<[stream: string, events: WireReady[], expected: ExpectedRevision]>

export function encodeParts (parts: readonly AppendPart[]): WireParts {
  return parts.map(p => [p.stream, p.events.map(encodeReady), p.expected])
}

export function decodeParts (parts: WireParts): AppendPart[] {
  return parts.map(([stream, events, expected]) => ({ stream, events: events.map(decodeReady), expected }))
}

/** An append's result, as it crosses. */
export type WireResult = [revision: number, position: number, ids: string[]]

export function encodeResult (r: AppendResult): WireResult {
  return [r.revision, r.position, r.ids]
}

export function decodeResult ([revision, position, ids]: WireResult): AppendResult {
  return { revision, position, ids }
}

/** A Buffer over the bytes msgpackr gave (a Buffer already in Node, a Uint8Array elsewhere). */
export function buffer (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
}
