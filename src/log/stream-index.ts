// The stream index: where each stream's events are in the log. It is written behind the log,
// in bulk: an append writes its records alone, and the positions of recent events wait in
// memory (the tail) until some thousands have gathered; then one batch, which is also an
// append's batch, writes them as one block per stream, with a marker saying up to which
// position the index is complete. Measured on classic-level, a second key per event costs
// appends about a third of their speed; blocks cost a fraction of that.
//
// Nothing is lost in a crash: the log is the truth, and opening the database rebuilds the tail
// from the records after the marker (a few thousand at most). Readers see the index on disk plus
// a copy of the tail, taken at the moment they open their disk iterator.
//
// A block: key `S` stream 0x00 firstRevision; value the runs (consecutive revisions at
// consecutive positions) of revisions firstRevision, firstRevision + 1, ...: varint first
// position, varint count, then for each further run varint gap (from the end of the run before),
// varint count.
import { AnnalsError } from '../errors.js'
import { Space, namedKey, parseStreamKey, readU64, streamBounds, streamKey, u64 } from '../storage/keys.js'
import type { Storage, StorageBatch } from '../storage/storage.js'

/** A run of one stream's events at consecutive revisions and consecutive positions. */
export interface Run {
  revision: number
  position: number
  count: number
}

/** A run with the stream it belongs to. */
export interface StreamRun extends Run {
  stream: string
}

/**
 * Events the tail gathers before they are written as blocks: more means fewer, larger blocks
 * and more records to read again at open after a crash. Tests lower it to exercise flushes.
 */
export const indexSettings = { flushEvents: 8192 }
/** The marker: the last position the index on disk covers. */
export const INDEXED_KEY = namedKey(Space.meta, 'indexed')

function writeVarint (out: number[], n: number): void {
  while (n >= 0x80) {
    out.push(n % 0x80 | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
}

/** Encodes the runs of a block (consecutive in revision, increasing in position). */
export function encodeBlock (runs: readonly Run[]): Buffer {
  const out: number[] = []
  let end = 0
  for (const [i, run] of runs.entries()) {
    writeVarint(out, i === 0 ? run.position : run.position - end)
    writeVarint(out, run.count)
    end = run.position + run.count
  }
  return Buffer.from(out)
}

/** Decodes a block whose first revision is `revision`; undefined when malformed. */
export function decodeBlock (revision: number, value: Uint8Array): Run[] | undefined {
  const runs: Run[] = []
  let i = 0
  const next = (): number | undefined => {
    let n = 0
    let scale = 1
    for (;;) {
      if (i >= value.length || scale > 2 ** 49) return undefined
      const b = value[i++]!
      n += (b & 0x7f) * scale
      if (b < 0x80) return n
      scale *= 0x80
    }
  }
  let end = 0
  while (i < value.length) {
    const gap = next()
    const count = next()
    if (gap === undefined || count === undefined || count === 0) return undefined
    const position = runs.length === 0 ? gap : end + gap
    if (!Number.isSafeInteger(position + count)) return undefined
    runs.push({ revision, position, count })
    revision += count
    end = position + count
  }
  return runs.length > 0 ? runs : undefined
}

/** Decodes a stream index entry into its stream and runs; `ANNALS_CORRUPT` when malformed. */
export function decodeEntry (key: Buffer, value: Buffer, stream: string): Run[] {
  const parsed = parseStreamKey(key)
  const runs = parsed === undefined ? undefined : decodeBlock(parsed.revision, value)
  if (runs === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The index of stream '${stream}' holds a malformed entry`)
  return runs
}

/**
 * The last position the stream index on disk covers (its marker), or -1 when it covers none;
 * the events after it are in the log only, until the next flush. `ANNALS_CORRUPT` when the
 * marker is malformed.
 */
export async function indexedUpTo (storage: Storage): Promise<number> {
  const marker = await storage.get(INDEXED_KEY)
  const indexed = marker === undefined ? -1 : marker.length === 8 ? readU64(marker, 0) : undefined
  if (indexed === undefined) throw new AnnalsError('ANNALS_CORRUPT', 'The stream index marker is malformed')
  return indexed
}

/** The last revision of `runs` (in revision order) at or before `position`; undefined when none is. */
function lastAtOrBefore (runs: readonly Run[], position: number): number | undefined {
  for (let i = runs.length - 1; i >= 0; i--) {
    const run = runs[i]!
    if (run.position <= position) return run.revision + Math.min(run.count - 1, position - run.position)
  }
  return undefined
}

/** The last revision of a block. */
function endOf (runs: readonly Run[]): number {
  const last = runs.at(-1)!
  return last.revision + last.count - 1
}

/** Adds a run to a list, joining it to the last run when it continues it. */
function pushRun (runs: Run[], revision: number, position: number, count: number): void {
  const last = runs.at(-1)
  if (last !== undefined && last.position + last.count === position) last.count += count
  else runs.push({ revision, position, count })
}

export class StreamIndex {
  readonly #storage: Storage
  /** runs of each stream that are in the log but not yet in the index on disk */
  readonly #tail = new Map<string, Run[]>()
  #tailEvents = 0

  private constructor (storage: Storage) {
    this.#storage = storage
  }

  /**
   * Opens the index: `replay` is called with the first position not yet indexed on disk, and
   * must hand every event from there on to the callback, in log order.
   */
  static async open (storage: Storage, replay: (from: number, add: (stream: string, revision: number, position: number) => void) => Promise<void>): Promise<StreamIndex> {
    const index = new StreamIndex(storage)
    const indexed = await indexedUpTo(storage)
    await replay(indexed + 1, (stream, revision, position) => index.#add(stream, revision, position, 1))
    return index
  }

  /** The last revision of `stream`, or -1: from the tail, else from the disk. */
  async revision (stream: string): Promise<number> {
    const runs = this.#tail.get(stream)
    if (runs !== undefined) {
      const last = runs.at(-1)!
      return last.revision + last.count - 1
    }
    // every stream's first block starts at revision 0: a point lookup (bloom-filtered, and
    // fast) tells a new stream from an old one before a range scan finds the old one's end
    if (await this.#storage.get(streamKey(stream, 0)) === undefined) return -1
    const entry = await this.#storage.firstEntry({ ...streamBounds(stream), reverse: true })
    if (entry === undefined) return -1
    const last = decodeEntry(entry[0], entry[1], stream).at(-1)!
    return last.revision + last.count - 1
  }

  /**
   * The last revision of `stream` at or before `position` in the log, or -1 when it has none
   * there. From the tail when it holds one (it holds the newest events), else by binary search
   * over the stream's blocks on disk: each probe is one seek and passes at least one block, so
   * it never reads the stream.
   */
  async revisionAt (stream: string, position: number): Promise<number> {
    const tail = this.#tail.get(stream)
    const inTail = tail === undefined ? undefined : lastAtOrBefore(tail, position)
    if (inTail !== undefined) return inTail
    // every stream's first block starts at revision 0: a point lookup
    const firstValue = await this.#storage.get(streamKey(stream, 0))
    if (firstValue === undefined) return -1
    let best = decodeEntry(streamKey(stream, 0), firstValue, stream)
    if (best[0]!.position > position) return -1
    const bounds = streamBounds(stream)
    const blockAt = async (revision?: number): Promise<Run[]> => {
      const entry = await this.#storage.firstEntry({ gte: bounds.gte, ...(revision === undefined ? { lt: bounds.lt } : { lte: streamKey(stream, revision) }), reverse: true })
      return decodeEntry(entry![0], entry![1], stream)
    }
    const last = await blockAt()
    if (last[0]!.position <= position) return lastAtOrBefore(last, position)!
    // `best` is the last block known to start at or before `position`; a later such block
    // starts within revisions low..high
    let low = endOf(best) + 1
    let high = last[0]!.revision - 1
    while (low <= high) {
      const block = await blockAt(low + Math.floor((high - low) / 2))
      if (block[0]!.position <= position) {
        best = block
        low = endOf(block) + 1
      } else {
        high = block[0]!.revision - 1
      }
    }
    return lastAtOrBefore(best, position)!
  }

  /** A copy of the runs of `stream` not yet on disk, oldest first. */
  tail (stream: string): Run[] {
    return this.#tail.get(stream)?.map(run => ({ ...run })) ?? []
  }

  /**
   * Adds the runs a batch writes. When enough events have gathered (or `force`), also puts into
   * the batch the blocks of every waiting run and the marker `last` (the batch's last position).
   * Returns what to do once the batch is written; nothing changes before.
   */
  stage (batch: StorageBatch, runs: readonly StreamRun[], last: number, force = false): () => void {
    let events = this.#tailEvents
    for (const run of runs) events += run.count
    if (!force && events < indexSettings.flushEvents) {
      return () => {
        for (const run of runs) this.#add(run.stream, run.revision, run.position, run.count)
      }
    }
    const blocks = new Map<string, Run[]>()
    for (const [stream, tail] of this.#tail) blocks.set(stream, tail.map(run => ({ ...run })))
    for (const run of runs) {
      let list = blocks.get(run.stream)
      if (list === undefined) blocks.set(run.stream, list = [])
      pushRun(list, run.revision, run.position, run.count)
    }
    for (const [stream, list] of blocks) batch.put(streamKey(stream, list[0]!.revision), encodeBlock(list))
    batch.put(INDEXED_KEY, u64(last))
    return () => {
      this.#tail.clear()
      this.#tailEvents = 0
    }
  }

  /** Whether runs are waiting in memory. */
  get pending (): boolean {
    return this.#tailEvents > 0
  }

  #add (stream: string, revision: number, position: number, count: number): void {
    let runs = this.#tail.get(stream)
    if (runs === undefined) this.#tail.set(stream, runs = [])
    pushRun(runs, revision, position, count)
    this.#tailEvents += count
  }
}
