// The log's records: events at consecutive positions, committed together, as one value (a
// chunk), so that reading the log costs one LevelDB entry and one checksum per chunk rather
// than per event. A group commit writes its events as one chunk, or several when it is large.
//
//   key    `L` + first position (u64)
//   value  crc32 (of the rest) | u8 format | varint first position | varint count |
//          varint commit time | count × varint length | the events' bytes, one after the other
//          (see event-record.ts)
//
// An event of length 0 was removed (scavenged): its position stays taken, and reads pass over it.
import { AnnalsError } from '../../errors.js'
import { Space, readU64, writeU64 } from '../../storage/keys.js'
import type { Storage } from '../../storage/storage.js'
import { crc32 } from 'node:zlib'
import { MalformedError, Reader, Writer, checksumHolds } from './bytes.js'

const FORMAT = 1
/** A chunk closes at this many events, or once past {@link CHUNK_BYTES}. */
export const CHUNK_EVENTS = 128
export const CHUNK_BYTES = 64 * 1024

/** `L` + position. */
export function logKey (position: number): Buffer {
  const key = Buffer.allocUnsafe(9)
  key[0] = Space.log
  writeU64(key, position, 1)
  return key
}

/** The position of a log key, or undefined when the key is not one. */
export function logKeyPosition (key: Uint8Array): number | undefined {
  if (key.length !== 9 || key[0] !== Space.log) return undefined
  return readU64(key, 1)
}

/** A chunk read back: where each event's bytes are in `buffer` (start, end pairs). */
export interface Chunk {
  first: number
  count: number
  time: number
  buffer: Buffer
  /** start and end offset of event i at 2i, 2i + 1; equal for a removed event */
  spans: number[]
}

/**
 * Builds one chunk's value: events are written straight into its body ({@link event} then
 * {@link end}), or copied in ({@link add}).
 */
export class ChunkBuilder {
  readonly first: number
  readonly time: number
  readonly #body = new Writer(16 * 1024)
  readonly #lengths: number[] = []
  #start = -1

  constructor (first: number, time: number) {
    this.first = first
    this.time = time
  }

  get count (): number {
    return this.#lengths.length
  }

  /** The size of the events' bytes so far. */
  get bytes (): number {
    return this.#body.length
  }

  /** The writer to write the next event's bytes into; then call {@link end}. */
  event (): Writer {
    this.#start = this.#body.length
    return this.#body
  }

  /** Ends the event begun with {@link event}. */
  end (): void {
    this.#lengths.push(this.#body.length - this.#start)
  }

  /** Adds an event's bytes, copied (a removed event: empty). */
  add (event: Uint8Array): void {
    this.#body.bytes(event)
    this.#lengths.push(event.length)
  }

  /** The key and value, and a view of each event's bytes in the value. */
  finish (): { key: Buffer, value: Buffer, events: Buffer[] } {
    const lengths = this.#lengths
    const head = new Writer(32 + 3 * lengths.length)
    head.checksumSlot()
    head.byte(FORMAT)
    head.varint(this.first)
    head.varint(lengths.length)
    head.varint(this.time)
    for (const n of lengths) head.varint(n)
    const body = this.#body.done()
    const value = Buffer.allocUnsafe(head.length + body.length)
    head.done().copy(value, 0)
    body.copy(value, head.length)
    value.writeUInt32LE(crc32(value.subarray(4)), 0)
    const events = new Array<Buffer>(lengths.length)
    let at = head.length
    for (let i = 0; i < lengths.length; i++) {
      events[i] = value.subarray(at, at += lengths[i]!)
    }
    return { key: logKey(this.first), value, events }
  }
}

/** Parses a chunk read at `key`; `ANNALS_CORRUPT` naming the position when it does not hold. */
export function parseChunk (key: Buffer, value: Buffer): Chunk {
  const position = logKeyPosition(key)
  if (position === undefined) throw new AnnalsError('ANNALS_CORRUPT', `A key of the log is malformed (${key.toString('hex')})`)
  if (!checksumHolds(value)) throw corruptChunk(position, 'its checksum does not match')
  try {
    const r = new Reader(value, 4)
    if (r.byte() !== FORMAT) throw new MalformedError('an unknown format')
    const first = r.varint()
    if (first !== position) throw new MalformedError(`it says it starts at ${first}`)
    const count = r.varint()
    const time = r.varint()
    if (count === 0) throw new MalformedError('it holds no event')
    const spans = new Array<number>(2 * count)
    for (let i = 0; i < count; i++) spans[2 * i + 1] = r.varint()
    let at = r.offset
    for (let i = 0; i < count; i++) {
      spans[2 * i] = at
      at += spans[2 * i + 1]!
      spans[2 * i + 1] = at
    }
    if (at !== r.end) throw new MalformedError(at > r.end ? 'it ends early' : 'bytes after the last event')
    return { first, count, time, buffer: value, spans }
  } catch (err) {
    if (err instanceof MalformedError) throw corruptChunk(position, err.message)
    throw err
  }
}

/** The chunk holding `position`: one seek; `ANNALS_CORRUPT` when it is missing. */
export async function chunkAt (storage: Storage, position: number): Promise<Chunk> {
  const entry = await storage.firstEntry({ gte: logKey(0), lte: logKey(position), reverse: true })
  const chunk = entry === undefined ? undefined : parseChunk(entry[0], entry[1])
  if (chunk === undefined || chunk.first + chunk.count <= position) throw corruptChunk(position, 'it is missing')
  return chunk
}

/** `ANNALS_CORRUPT` for the chunk at `position`. */
export function corruptChunk (position: number, why: string, cause?: unknown): AnnalsError {
  return new AnnalsError('ANNALS_CORRUPT', `The log's record at position ${position} is damaged: ${why}`, cause === undefined ? undefined : { cause })
}
