// The raw side of a scavenge that does the same I/O on the log: raw classic-level holding the
// events 128 to a value (as annals's chunks: `key8(first position)` -> each event's length as a
// u32, then its bytes; an event of length 0 was removed), every value that holds removed events
// rewritten without their bytes, then one compaction of the log. It runs in a process of its own,
// as every side of the scavenge workload does (scavenge-sides.ts).
import { ClassicLevel } from 'classic-level'
import type { Timing } from './measure.js'

/**
 * What the rewrite is told: the folder of the copy, which events it removes (`position % streams
 * < deleted`), and how many chunks it reads per batch of writes (a scavenge's).
 */
export interface ChunksTask {
  dir: string
  streams: number
  deleted: number
  chunksPerBatch: number
}

/** A raw chunk's value: each event's length (u32), then its bytes. */
export function encodeRawChunk (events: Buffer[]): Buffer {
  const parts: Buffer[] = []
  for (const e of events) {
    const length = Buffer.allocUnsafe(4)
    length.writeUInt32BE(e.length, 0)
    parts.push(length, e)
  }
  return Buffer.concat(parts)
}

/**
 * Rewrites a raw chunk of events from `first` on without the bytes of those `removed` says, in
 * place (the chunk only shrinks); undefined when it holds none of them.
 */
function withoutRemoved (first: number, value: Buffer, removed: (i: number) => boolean): { value: Buffer, emptied: number } | undefined {
  let emptied = 0
  let to = 0
  for (let at = 0, i = first; at < value.length; i++) {
    const length = value.readUInt32BE(at)
    if (length > 0 && removed(i)) {
      value.writeUInt32BE(0, to)
      to += 4
      emptied++
    } else {
      if (to !== at) value.copyWithin(to, at, at + 4 + length)
      to += 4 + length
    }
    at += 4 + length
  }
  return emptied === 0 ? undefined : { value: value.subarray(0, to), emptied }
}

/** Reads every chunk, `chunksPerBatch` at a time, writes again those holding removed events (one batch per read), compacts the log. */
export async function rewriteChunks ({ dir, streams, deleted, chunksPerBatch }: ChunksTask): Promise<Timing> {
  const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await raw.open()
  try {
    const start = performance.now()
    let n = 0
    let last: Buffer | undefined
    const it = raw.iterator()
    try {
      for (let entries = await it.nextv(chunksPerBatch); entries.length > 0; entries = await it.nextv(chunksPerBatch)) {
        const batch = raw.batch()
        for (const [key, value] of entries) {
          const rewritten = withoutRemoved(key.readUInt32BE(0) * 0x100000000 + key.readUInt32BE(4), value, i => i % streams < deleted)
          if (rewritten === undefined) continue
          batch.put(key, rewritten.value)
          n += rewritten.emptied
          last = key
        }
        await batch.write()
      }
    } finally {
      await it.close()
    }
    if (last !== undefined) await raw.compactRange(Buffer.alloc(8), last)
    return { events: n, ms: performance.now() - start }
  } finally {
    await raw.close()
  }
}
