// Rewriting a level database's records under annals, as damage or an attacker with write
// access to the files would: an event's data changed, a chunk replaced, checksums recomputed.
import type { ReadyEvent } from '../../src/backend/backend.js'
import { Writer } from '../../src/backend/level/bytes.js'
import { ChunkBuilder, logKey, parseChunk } from '../../src/backend/level/chunk.js'
import { eventParts, eventSize, writeEvent } from '../../src/backend/level/event-record.js'
import { decode, encode } from '../../src/storage/codec.js'

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

/** A database's raw get and put, as classic-level and memory-level have them. */
export interface RawLevel {
  get: (key: never, options: typeof BUFFERS) => Promise<unknown>
  put: (key: never, value: never, options: typeof BUFFERS) => Promise<void>
}

/** Rewrites the data of the event at `position` (in the log's chunk, with a valid checksum). */
export async function rewriteData (level: RawLevel, position: number, change: (data: any) => unknown): Promise<void> { // eslint-disable-line @typescript-eslint/no-explicit-any
  await rewriteChunk(level, position, (_stream, _revision, e) => ({ ...e, data: encode(change(decode(e.data))) }))
}

/** Rewrites the chunk holding `position`, each event through `change`. */
export async function rewriteChunk (level: RawLevel, position: number, change: (stream: string, revision: number, e: ReadyEvent, position: number) => ReadyEvent): Promise<void> {
  const key = logKey(position)
  const value = await level.get(key as never, BUFFERS) as Buffer | undefined
  if (value === undefined) throw new Error(`no chunk starts at position ${position}`)
  const chunk = parseChunk(key, value)
  const builder = new ChunkBuilder(chunk.first, chunk.time)
  for (let i = 0; i < chunk.count; i++) {
    const p = eventParts(chunk.buffer, chunk.spans[2 * i]!, chunk.spans[2 * i + 1]!)
    const e: ReadyEvent = { id: p.id, indexed: p.indexed, fresh: false, type: p.type, version: p.version, tags: p.tags, data: p.data, metadata: p.metadata, sealed: p.sealed, digest: undefined }
    const next = chunk.first + i === position ? change(p.stream, p.revision, e, chunk.first + i) : e
    const w = new Writer(eventSize(p.stream, next))
    writeEvent(w, p.stream, p.revision, next)
    builder.add(w.done())
  }
  await level.put(key as never, builder.finish().value as never, BUFFERS)
}
