// The compaction that ends a scavenge, on the key ranges the scavenge deleted from only: LevelDB
// rewrites the table files of those ranges without what was deleted (and flushes its
// write-ahead log), so that no byte of a removed event is left in the files, and leaves the rest
// of the database (the blocks of the streams that stay, the views, the summaries) alone.
//
// The ranges are recorded in the database itself, in the same batches as the deletes they cover
// (see scavenge.ts): one key with, for each key space, the lowest and the highest key deleted in
// it (the log's chunks, the id and tag index entries), and one key per stream whose blocks were
// deleted. A crash before or during the compaction leaves them there, and the compaction after
// the next scavenge does them too; they are deleted once compacted. The log's range is compacted
// by the scavenge itself as it goes (PendingCompaction.compactNow), and leaves the record with
// the next batch.
import { Space, nameBounds, namedKey, spaceEnd, spaceStart } from '../../storage/keys.js'
import type { WriteOp } from '../../storage/storage.js'
import type { LevelDoor } from './door.js'

/** The lowest and highest key deleted in each key space (by its tag byte), waiting for a compaction. */
const RANGES_KEY = namedKey(Space.meta, 'compact')
/** The streams whose blocks were deleted, waiting for a compaction: this prefix, then the stream's name. */
const STREAMS = nameBounds(Space.meta, 'compact-stream')
/** At most this many compactions of streams' blocks: streams next to each other share one beyond it. */
const MAX_STREAM_RANGES = 32

/** The key ranges a scavenge deleted from, as it goes; {@link stage} puts them in its batches. */
export class PendingCompaction {
  /** space tag -> [lowest, highest] key deleted */
  readonly #ranges = new Map<number, [Buffer, Buffer]>()
  #changed = false

  /** The ranges waiting in the database (a scavenge or a compaction that did not finish). */
  static async read (door: LevelDoor): Promise<PendingCompaction> {
    const pending = new PendingCompaction()
    const value = await door.get(RANGES_KEY)
    if (value !== undefined) {
      for (let at = 0; at < value.length;) {
        const lowLength = value.readUInt16BE(at)
        const low = value.subarray(at + 2, at += 2 + lowLength)
        const highLength = value.readUInt16BE(at)
        const high = value.subarray(at + 2, at += 2 + highLength)
        pending.add(low)
        pending.add(high)
      }
      pending.#changed = false
    }
    return pending
  }

  /** Widens the range of the key's space to take in a key deleted (or rewritten without what it held). */
  add (key: Buffer): void {
    const range = this.#ranges.get(key[0]!)
    if (range === undefined) {
      this.#ranges.set(key[0]!, [Buffer.from(key), Buffer.from(key)])
    } else if (Buffer.compare(key, range[0]) < 0) {
      range[0] = Buffer.from(key)
    } else if (Buffer.compare(key, range[1]) > 0) {
      range[1] = Buffer.from(key)
    } else {
      return
    }
    this.#changed = true
  }

  /**
   * Compacts the range of one key space now, and forgets it: the next {@link stage} records the
   * ranges without it (until then, the record still has it: a crash before compacts it again).
   */
  async compactNow (door: LevelDoor, space: number): Promise<void> {
    const range = this.#ranges.get(space)
    if (range === undefined) return
    await rootCompactRange(door)?.(range[0], range[1])
    this.#ranges.delete(space)
    this.#changed = true
  }

  /** The ranges, lowest and highest key of each space. */
  ranges (): Array<[Buffer, Buffer]> {
    return [...this.#ranges.values()]
  }

  /** Puts the ranges into a batch of the deletes they cover, when they grew since the last. */
  stage (ops: WriteOp[]): void {
    if (!this.#changed) return
    if (this.#ranges.size === 0) {
      ops.push({ key: RANGES_KEY })
      this.#changed = false
      return
    }
    const parts: Buffer[] = []
    for (const [low, high] of this.#ranges.values()) {
      for (const key of [low, high]) {
        const length = Buffer.allocUnsafe(2)
        length.writeUInt16BE(key.length, 0)
        parts.push(length, key)
      }
    }
    ops.push({ key: RANGES_KEY, value: Buffer.concat(parts) })
    this.#changed = false
  }
}

/** Puts into a batch deleting blocks of `stream` the record that they wait for a compaction. */
export function stageStreamCompaction (ops: WriteOp[], stream: string): void {
  ops.push({ key: Buffer.concat([STREAMS.gte, Buffer.from(stream, 'utf8')]), value: Buffer.alloc(0) })
}

/**
 * Compacts the key ranges that scavenges deleted from (see above) and, when there were any, the
 * spaces of snapshots and view history (where the layers above delete what removed events fed),
 * then forgets them. Nothing to compact on a database without `compactRange` (memory-level):
 * the records go all the same.
 */
export async function compactPending (door: LevelDoor): Promise<void> {
  const ranges = (await PendingCompaction.read(door)).ranges()
  const streams: Buffer[] = []
  const it = door.keys(STREAMS)
  try {
    for (let keys = await it.nextv(1024); keys.length > 0; keys = await it.nextv(1024)) streams.push(...keys)
  } finally {
    await it.close()
  }
  if (ranges.length === 0 && streams.length === 0) return
  ranges.push(...streamRanges(streams.map(key => key.subarray(STREAMS.gte.length).toString('utf8'))))
  for (const space of [Space.snapshots, Space.history]) ranges.push([spaceStart(space), spaceEnd(space)])
  const compactRange = rootCompactRange(door)
  if (compactRange !== undefined) for (const [low, high] of ranges) await compactRange(low, high)
  await door.write([{ key: RANGES_KEY }, ...streams.map(key => ({ key }))], false)
}

/**
 * Has LevelDB write its memory table to a table file (a compaction of one small key's range does,
 * first of all). A scavenge does it before it rewrites anything: else the records it rewrites
 * and their rewritten versions can end up in one table file of the lowest level holding any,
 * which a compaction of their range does not rewrite, and the old versions stay in it.
 */
export async function flushMemory (door: LevelDoor): Promise<void> {
  await rootCompactRange(door)?.(RANGES_KEY, RANGES_KEY)
}

/** The ranges of streams' blocks to compact: one per stream, or per run of neighbouring streams beyond {@link MAX_STREAM_RANGES}. */
function streamRanges (names: string[]): Array<[Buffer, Buffer]> {
  const bounds = names.map(name => nameBounds(Space.streams, name)).sort((a, b) => Buffer.compare(a.gte, b.gte))
  const per = Math.ceil(bounds.length / MAX_STREAM_RANGES)
  const out: Array<[Buffer, Buffer]> = []
  for (let i = 0; i < bounds.length; i += per) out.push([bounds[i]!.gte, bounds[Math.min(i + per, bounds.length) - 1]!.lt])
  return out
}

/**
 * The `compactRange` of the database under the door, on keys as annals writes them (a sublevel's
 * keys are its prefix and ours, in its root database); undefined when it has none.
 */
function rootCompactRange (door: LevelDoor): ((low: Buffer, high: Buffer) => Promise<void>) | undefined {
  const sub = door.db as { db?: unknown, prefix?: string }
  const root = (sub.db ?? door.db) as { compactRange?: (start: Buffer, end: Buffer, options?: unknown) => Promise<void> }
  if (typeof root.compactRange !== 'function') return undefined
  const prefix = Buffer.from(sub.db !== undefined && sub.db !== door.db ? sub.prefix ?? '' : '', 'utf8')
  return async (low, high) => { await root.compactRange!(Buffer.concat([prefix, low]), Buffer.concat([prefix, high]), { keyEncoding: 'buffer' }) }
}
