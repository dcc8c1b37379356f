// A stream's events in revision order, copied out of the log in blocks, so that reading a
// stream is a sequential read of its own blocks, whatever else the log holds between its
// events. Blocks are written behind the log, in bulk (see stream-index.ts).
//
//   key    `S` + stream + 0x00 + first revision (u64)
//   value  crc32 | u8 format | varint first revision | varint count |
//          count × varint position (the first as it is, the others as the gap from the one before) |
//          count × varint commit time (likewise) | count × (varint length, the event's bytes)
//
// The event's bytes are those of the log (event-record.ts); length 0 marks a removed event.
import { AnnalsError } from '../../errors.js'
import { parseStreamKey } from '../../storage/keys.js'
import { MalformedError, Reader, Writer, checksumHolds } from './bytes.js'

const FORMAT = 1
/** A block closes at this many events or once past this many bytes; a stream flushed with more gets several. */
export const BLOCK_EVENTS = 1024
export const BLOCK_BYTES = 256 * 1024

/** One event of a block, as the writer hands it over. */
export interface BlockEvent {
  revision: number
  position: number
  time: number
  bytes: Buffer
}

/** A block read back. */
export interface StreamBlock {
  first: number
  count: number
  positions: number[]
  times: number[]
  buffer: Buffer
  /** start and end offset of event i's bytes at 2i and 2i + 1 */
  spans: number[]
}

/** The value of a block of consecutive revisions. */
export function encodeBlock (events: readonly BlockEvent[]): Buffer {
  let bytes = 0
  for (const e of events) bytes += e.bytes.length
  const w = new Writer(bytes + 16 * events.length + 32)
  w.checksumSlot()
  w.byte(FORMAT)
  w.varint(events[0]!.revision)
  w.varint(events.length)
  let last = 0
  for (const e of events) {
    w.varint(e.position - last)
    last = e.position
  }
  last = 0
  for (const e of events) {
    w.varint(e.time - last)
    last = e.time
  }
  for (const e of events) w.lengthPrefixed(e.bytes)
  return w.sealed()
}

/** Splits a stream's events (consecutive revisions) into the blocks to write. */
export function splitBlocks (events: readonly BlockEvent[]): BlockEvent[][] {
  const blocks: BlockEvent[][] = []
  let current: BlockEvent[] = []
  let bytes = 0
  for (const e of events) {
    if (current.length > 0 && (current.length >= BLOCK_EVENTS || bytes + e.bytes.length > BLOCK_BYTES)) {
      blocks.push(current)
      current = []
      bytes = 0
    }
    current.push(e)
    bytes += e.bytes.length
  }
  if (current.length > 0) blocks.push(current)
  return blocks
}

/** Parses a block of `stream` read at `key`; `ANNALS_CORRUPT` naming the stream when it does not hold. */
export function parseBlock (stream: string, key: Buffer, value: Buffer, withEvents = true): StreamBlock {
  const parsed = parseStreamKey(key)
  if (parsed === undefined) throw corruptBlock(stream, `a malformed key (${key.toString('hex')})`)
  if (!checksumHolds(value)) throw corruptBlock(stream, `the block of revision ${parsed.revision} fails its checksum`)
  try {
    const r = new Reader(value, 4)
    if (r.byte() !== FORMAT) throw new MalformedError('an unknown format')
    const first = r.varint()
    if (first !== parsed.revision) throw new MalformedError(`a block keyed at revision ${parsed.revision} says it starts at ${first}`)
    const count = r.varint()
    if (count === 0) throw new MalformedError('an empty block')
    const positions = new Array<number>(count)
    const times = new Array<number>(count)
    let last = 0
    for (let i = 0; i < count; i++) positions[i] = last = last + r.varint()
    last = 0
    for (let i = 0; i < count; i++) times[i] = last = last + r.varint()
    const spans: number[] = []
    if (withEvents) {
      for (let i = 0; i < count; i++) {
        const length = r.varint()
        spans.push(r.offset)
        r.skip(length)
        spans.push(r.offset)
      }
      if (!r.done) throw new MalformedError('bytes after the last event')
    }
    return { first, count, positions, times, buffer: value, spans }
  } catch (err) {
    if (err instanceof MalformedError) throw corruptBlock(stream, err.message)
    throw err
  }
}

/** `ANNALS_CORRUPT` for a stream's blocks. */
export function corruptBlock (stream: string, why: string): AnnalsError {
  return new AnnalsError('ANNALS_CORRUPT', `The stored copy of stream '${stream}' is damaged: ${why}`)
}
