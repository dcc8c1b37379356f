// Scavenging: taking out of the files the events that no longer read (rules.ts). Every removal
// rule removes a prefix of each stream (the oldest revisions: deleted, truncated, expired by age
// or count, archived by position), so a stream's removed events end where its first readable
// revision begins. The scavenge walks the chunks (flat memory: a batch of chunks at a time), and
// for each removed event empties its entry in its chunk (its position stays taken: it reads as
// removed), deletes its id and tag index entries, and moves its stream's rule to start after it,
// all in one batch with a progress marker: a crash in the middle loses nothing and the next
// scavenge goes on from the marker. Then each stream with a rule loses its blocks below its
// first readable revision. Each batch also records the key ranges it deleted from
// (compaction.ts): once the layers above have deleted what the removed events fed (snapshots,
// view history), LevelDB compacts those ranges, so that no byte of a removed event remains in
// the files. The log's own range is compacted sooner, as the scan goes (every
// BATCHES_PER_COMPACTION batches, and once more at its end): nothing above the log derives from
// its chunks, and LevelDB lets go of the table files the scan read, which it maps into memory,
// once they are compacted away (peak RSS stays that of a part of the log, not the whole).
//
// Events after the blocks' marker (still in memory, not yet in blocks) wait for the next
// scavenge: blocks are written only by the flush.
import { Space, nameBounds, namedKey, streamKey } from '../../storage/keys.js'
import type { WriteOp } from '../../storage/storage.js'
import type { ScavengeReport, StreamRule } from '../backend.js'
import { ChunkBuilder, logKey, parseChunk, type Chunk } from './chunk.js'
import { PendingCompaction, flushMemory, stageStreamCompaction } from './compaction.js'
import type { LevelDoor } from './door.js'
import { peekEvent } from './event-record.js'
import { idKey } from './ids.js'
import type { Rules } from '../rules.js'
import { encodeBlock, parseBlock, type BlockEvent } from './stream-block.js'
import { indexedUpTo } from './stream-index.js'
import { tagKey } from './tags.js'

/** Where a scavenge stopped: the next position it looks at. */
const PROGRESS_KEY = namedKey(Space.meta, 'scavenge')
/** Chunks read per batch of writes. */
export const CHUNKS_PER_BATCH = 32
/**
 * Batches between compactions of the part of the log rewritten so far (about 524,000 positions):
 * a compaction deletes the table files the scan read, and LevelDB unmaps them, so the files the
 * scan has mapped into memory stay about this part of the log, not the whole log. (Measured on a
 * log of 1,000,000 events: every 32 batches kept as little memory but took a quarter longer, each
 * compaction also rewriting what the last one wrote to level 1; every 128, the table files mapped
 * at the peak 130 -> 85 MB, and no slower: see docs/benchmarks.md.)
 */
const BATCHES_PER_COMPACTION = 128

/** How often a scavenge compacts the log as it goes: {@link BATCHES_PER_COMPACTION}; tests lower it to take the steps on small logs. */
export const scavengePace = { batchesPerCompaction: BATCHES_PER_COMPACTION }

/** What a scavenge asks of the writer: streams' last revisions (for counts), and the events in memory written to blocks. */
export interface ScavengeHost {
  revision (stream: string): Promise<number>
  flushTail (): Promise<void>
}

/**
 * Scavenges the level backend; `onRemoved` is told every removed position it passes (those it
 * empties and those emptied before), for the layers above to drop what they derived from them.
 */
export async function scavenge (door: LevelDoor, rules: Rules, host: ScavengeHost, progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void): Promise<ScavengeReport> {
  // what waits in memory goes to blocks first, so that everything committed can be scavenged
  await host.flushTail()
  await flushMemory(door)
  const end = await indexedUpTo(door)
  const marker = await door.get(PROGRESS_KEY)
  let next = marker === undefined ? 0 : marker.readUInt32BE(0) * 0x100000000 + marker.readUInt32BE(4)
  const start = next
  // the ranges this scavenge deletes from, with those still waiting for a compaction
  const pending = await PendingCompaction.read(door)
  let reached = 0
  let removed = 0
  const now = Date.now()
  const last = new Map<string, number>()
  const lastOf = async (stream: string): Promise<number> => {
    let r = last.get(stream)
    if (r === undefined) last.set(stream, r = await host.revision(stream))
    return r
  }
  // each stream's first readable revision as this scavenge moves it, written with its batch
  const moved = new Map<string, number>()
  // from the start even after a crash: the chunks before the marker are not scavenged again,
  // but the positions they emptied are told to `onRemoved` again (the layers above may not have
  // heard of them before the crash)
  const high = logKey(Math.max(end, 0))
  let it = door.entries({ gte: logKey(0), lte: high })
  let batches = 0
  try {
    for (let entries = await it.nextv(CHUNKS_PER_BATCH); entries.length > 0 && end >= 0; entries = await it.nextv(CHUNKS_PER_BATCH)) {
      const ops: WriteOp[] = []
      const gone: number[] = []
      let scavenged = false
      for (const [key, value] of entries) {
        const chunk = parseChunk(key, value)
        reached = Math.min(chunk.first + chunk.count, end + 1)
        if (chunk.first + chunk.count - 1 < next) {
          addEmptied(chunk, gone)
          continue
        }
        removed += await emptyRemoved(chunk, end, rules, now, lastOf, { ops, gone, moved, pending })
        next = reached
        scavenged = true
      }
      const applied: Array<() => void> = []
      for (const [stream, first] of moved) {
        const rule = rules.stream(stream) ?? { truncateBefore: 0, tombstoned: false }
        if (first > rule.truncateBefore) applied.push(rules.stageStream(ops, stream, { ...rule, truncateBefore: first }))
      }
      moved.clear()
      if (scavenged) {
        const mark = Buffer.allocUnsafe(8)
        mark.writeUInt32BE(Math.floor(next / 0x100000000), 0)
        mark.writeUInt32BE(next >>> 0, 4)
        ops.push({ key: PROGRESS_KEY, value: mark })
        pending.stage(ops)
        await door.write(ops, false)
      }
      for (const apply of applied) apply()
      if (gone.length > 0) onRemoved?.(gone)
      progress?.(reached, end + 1)
      if (++batches % scavengePace.batchesPerCompaction === 0) {
        // the scan lets go of the files it read (an iterator keeps them), then the part of the
        // log rewritten so far is compacted: its old chunks' files go, and out of memory
        const after = entries[entries.length - 1]![0]
        await it.close()
        await pending.compactNow(door, Space.log)
        it = door.entries({ gt: after, lte: high })
      }
    }
    // the rest of the log rewritten: compacted now too, before the streams' blocks are read
    await it.close()
    await pending.compactNow(door, Space.log)
    const ops: WriteOp[] = []
    pending.stage(ops)
    if (ops.length > 0) await door.write(ops, false)
  } finally {
    await it.close()
  }
  // every stream with a rule loses its blocks below its first readable revision
  for (const [stream, rule] of rules.streamRules()) await dropBlocks(door, stream, rule)
  await door.write([{ key: PROGRESS_KEY }], true)
  return { removed, scanned: Math.max(0, end + 1 - start) }
}

/** What {@link emptyRemoved} adds to: the batch, the removed positions, streams' first readable revisions, the ranges to compact. */
interface Emptying {
  ops: WriteOp[]
  gone: number[]
  moved: Map<string, number>
  pending: PendingCompaction
}

/**
 * Puts into `ops` the chunk with its removed events emptied, and the deletes of their index
 * entries (their keys into `pending`); adds every removed position (emptied now or before) to
 * `gone`, and each stream's first readable revision to `moved`. Returns how many events it
 * emptied now.
 */
async function emptyRemoved (chunk: Chunk, end: number, rules: Rules, now: number, lastOf: (stream: string) => Promise<number>, { ops, gone, moved, pending }: Emptying): Promise<number> {
  const doomed: boolean[] = new Array(chunk.count).fill(false)
  let emptied = 0
  for (let i = 0; i < chunk.count; i++) {
    const position = chunk.first + i
    const start = chunk.spans[2 * i]!
    const stop = chunk.spans[2 * i + 1]!
    if (start === stop) {
      gone.push(position)
      continue
    }
    if (position > end) continue
    const h = peekEvent(chunk.buffer, start, stop)
    const last = rules.counts(h.stream) ? await lastOf(h.stream) : h.revision
    if (!rules.removed(h.stream, h.revision, position, chunk.time, now, last)) continue
    doomed[i] = true
    emptied++
    gone.push(position)
    const id = idKey(h.id)
    ops.push({ key: id })
    pending.add(id)
    for (const tag of h.tags ?? []) {
      const key = tagKey(tag, position)
      ops.push({ key })
      pending.add(key)
    }
    moved.set(h.stream, Math.max(moved.get(h.stream) ?? 0, h.revision + 1))
  }
  if (emptied > 0) {
    const builder = new ChunkBuilder(chunk.first, chunk.time)
    for (let i = 0; i < chunk.count; i++) builder.add(doomed[i] === true ? EMPTY : chunk.buffer.subarray(chunk.spans[2 * i]!, chunk.spans[2 * i + 1]!))
    const { key, value } = builder.finish()
    ops.push({ key, value })
    pending.add(key)
  }
  return emptied
}

const EMPTY = Buffer.alloc(0)

/** Adds to `gone` the positions of a chunk emptied before. */
function addEmptied (chunk: Chunk, gone: number[]): void {
  for (let i = 0; i < chunk.count; i++) if (chunk.spans[2 * i] === chunk.spans[2 * i + 1]) gone.push(chunk.first + i)
}

/**
 * Deletes a stream's blocks below its first readable revision, and empties the events below it
 * in the block that straddles it; records the stream as waiting for a compaction in the same batches.
 */
async function dropBlocks (door: LevelDoor, stream: string, rule: StreamRule): Promise<void> {
  const first = rule.tombstoned ? Infinity : rule.truncateBefore
  if (first <= 0) return
  const { gte, lt } = nameBounds(Space.streams, stream)
  const indexed = await indexedUpTo(door)
  const it = door.entries({ gte, ...(first === Infinity ? { lt } : { lte: streamKey(stream, first) }) })
  const ops: WriteOp[] = []
  try {
    for (let entries = await it.nextv(16); entries.length > 0; entries = await it.nextv(16)) {
      for (const [key, value] of entries) {
        const block = parseBlock(stream, key, value)
        const blockEnd = block.first + block.count
        if (blockEnd <= first) {
          ops.push({ key })
          continue
        }
        // the block that straddles the first readable revision: its events below it emptied
        const events: BlockEvent[] = []
        let changed = false
        for (let i = 0; i < block.count; i++) {
          const start = block.spans[2 * i]!
          const end = block.spans[2 * i + 1]!
          const drop = block.first + i < first && start !== end && block.positions[i]! <= indexed
          changed ||= drop
          events.push({ revision: block.first + i, position: block.positions[i]!, time: block.times[i]!, bytes: drop ? EMPTY : block.buffer.subarray(start, end) })
        }
        if (changed) ops.push({ key, value: encodeBlock(events) })
      }
      if (ops.length >= 256) {
        stageStreamCompaction(ops, stream)
        await door.write(ops.splice(0), false)
      }
    }
  } finally {
    await it.close()
  }
  if (ops.length > 0) {
    stageStreamCompaction(ops, stream)
    await door.write(ops, false)
  }
}
