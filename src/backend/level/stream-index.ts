// Where each stream's events are: copies of them in the stream's own blocks (stream-block.ts),
// written behind the log, in bulk. An append writes its chunk alone; the events of recent
// appends wait in memory (the tail: their bytes, which are views into the chunks written)
// until some thousands have gathered; then one batch, which is also an append's batch, writes
// them as blocks, each stream's summary (its last revision and position) and a marker saying
// up to which position the blocks are complete. Measured on classic-level, writing each
// event's copy with its append would cost appends about a third of their speed; in bulk it
// costs a fraction of that.
//
// Nothing is lost in a crash: the log is the truth, and opening the database rebuilds the tail
// from the chunks after the marker (a few thousand events at most). Readers see the blocks on
// disk plus a copy of the tail, taken at the moment they open their disk iterator.
import { AnnalsError } from '../../errors.js'
import { Space, nameBounds, namedKey, parseStreamKey, streamKey } from '../../storage/keys.js'
import type { Storage, WriteOp } from '../../storage/storage.js'
import { MalformedError, Reader, Writer, checksumHolds } from './bytes.js'
import { encodeBlock, parseBlock, splitBlocks, type BlockEvent, type StreamBlock } from './stream-block.js'

/**
 * Events and bytes the tail gathers before they are written as blocks: more means fewer,
 * larger blocks and more to read again at open after a crash. Tests lower them to exercise
 * flushes.
 */
export const indexSettings = { flushEvents: 8192, flushBytes: 8 * 1024 * 1024 }

/** The marker: the last position the blocks on disk cover. */
export const INDEXED_KEY = namedKey(Space.meta, 'indexed')

/** `R` + stream: the stream's last revision and position on disk. */
export function summaryKey (stream: string): Buffer {
  return namedKey(Space.summaries, stream)
}

/** A stream's summary on disk: its last event's revision, position and commit time. */
export interface Summary {
  revision: number
  position: number
  time: number
}

export function encodeSummary (s: Summary): Buffer {
  const w = new Writer(24)
  w.checksumSlot()
  w.varint(s.revision)
  w.varint(s.position)
  w.varint(s.time)
  return w.sealed()
}

export function decodeSummary (stream: string, value: Buffer): Summary {
  try {
    if (!checksumHolds(value)) throw new MalformedError('its checksum does not match')
    const r = new Reader(value, 4)
    const s = { revision: r.varint(), position: r.varint(), time: r.varint() }
    if (!r.done) throw new MalformedError('bytes after its end')
    return s
  } catch (err) {
    if (err instanceof MalformedError) throw new AnnalsError('ANNALS_CORRUPT', `The summary of stream '${stream}' is damaged: ${err.message}`)
    throw err
  }
}

export function encodeMarker (position: number): Buffer {
  const w = new Writer(16)
  w.checksumSlot()
  w.varint(position + 1)
  return w.sealed()
}

/** The last position the blocks cover (-1: none); `ANNALS_CORRUPT` when the marker is damaged. */
export async function indexedUpTo (storage: Storage): Promise<number> {
  const value = await storage.get(INDEXED_KEY)
  if (value === undefined) return -1
  try {
    if (!checksumHolds(value)) throw new MalformedError('')
    const r = new Reader(value, 4)
    const n = r.varint() - 1
    if (!r.done) throw new MalformedError('')
    return n
  } catch (err) {
    if (err instanceof MalformedError) throw new AnnalsError('ANNALS_CORRUPT', 'The marker of the streams\' blocks is damaged')
    throw err
  }
}

/** The last revision of `block` whose position is at or before `position`, or undefined. */
function lastAtOrBefore (block: { first: number, positions: readonly number[] }, position: number): number | undefined {
  for (let i = block.positions.length - 1; i >= 0; i--) {
    if (block.positions[i]! <= position) return block.first + i
  }
  return undefined
}

export class StreamIndex {
  readonly #storage: Storage
  /** events of each stream that are in the log but not yet in blocks, in revision order */
  readonly #tail = new Map<string, BlockEvent[]>()
  #events = 0
  #bytes = 0

  private constructor (storage: Storage) {
    this.#storage = storage
  }

  /**
   * Opens the index: `replay` is called with the first position not yet in blocks, and must
   * hand every event from there on to the callback, in log order.
   */
  static async open (storage: Storage, replay: (from: number, add: (stream: string, event: BlockEvent) => void) => Promise<void>): Promise<StreamIndex> {
    const index = new StreamIndex(storage)
    await replay(await indexedUpTo(storage) + 1, (stream, event) => index.#add(stream, event))
    return index
  }

  /** The last revision of `stream`, or -1: from the tail, else from its summary on disk. */
  async revision (stream: string): Promise<number> {
    const tail = this.#tail.get(stream)
    if (tail !== undefined) return tail[tail.length - 1]!.revision
    return (await this.summary(stream))?.revision ?? -1
  }

  /** The stream's summary on disk, if it has blocks. */
  async summary (stream: string): Promise<Summary | undefined> {
    const value = await this.#storage.get(summaryKey(stream))
    return value === undefined ? undefined : decodeSummary(stream, value)
  }

  /**
   * The last revision of `stream` at or before `position` in the log, or -1 when it has none
   * there. From the tail when it holds one (it holds the newest events), else by binary search
   * over the stream's blocks on disk: each probe is one seek, so it never reads the stream.
   *
   * A stream whose first blocks were dropped (a scavenge, or an import of a stream that starts
   * past revision 0) has lost where its first revisions were: a position before its first
   * block gives the revision before that block's first, which is a removed one (the layers
   * above treat every removed revision alike).
   */
  async revisionAt (stream: string, position: number): Promise<number> {
    const tail = this.#tail.get(stream)
    if (tail !== undefined && tail[0]!.position <= position) {
      for (let i = tail.length - 1; i >= 0; i--) if (tail[i]!.position <= position) return tail[i]!.revision
    }
    const summary = await this.summary(stream)
    if (summary === undefined) return -1
    if (summary.position <= position) return summary.revision
    // invariant: revisions below `low` are at or before `position`, those above `high` after it
    const bounds = nameBounds(Space.streams, stream)
    const firstKey = await this.#storage.firstKey(bounds)
    // no block at all: every revision it had was removed
    if (firstKey === undefined) return summary.revision
    let low = parseStreamKey(firstKey)?.revision ?? 0
    let high = summary.revision
    let best = low - 1
    while (low <= high) {
      const block = await this.#blockAt(stream, low + Math.floor((high - low) / 2))
      const found = lastAtOrBefore(block, position)
      if (found === undefined) {
        high = block.first - 1
      } else {
        best = found
        if (found < block.first + block.count - 1) return found
        low = block.first + block.count
      }
    }
    return best
  }

  /** The block holding `revision` of `stream` (without its events' bytes). */
  async #blockAt (stream: string, revision: number): Promise<StreamBlock> {
    const { gte } = nameBounds(Space.streams, stream)
    const entry = await this.#storage.firstEntry({ gte, lte: streamKey(stream, revision), reverse: true })
    if (entry === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The stored copy of stream '${stream}' has no block for revision ${revision}`)
    const block = parseBlock(stream, entry[0], entry[1], false)
    if (block.first + block.count <= revision) {
      throw new AnnalsError('ANNALS_CORRUPT', `The stored copy of stream '${stream}' is missing revision ${revision}`)
    }
    return block
  }

  /** A copy of the tail of `stream`, oldest first. */
  tail (stream: string): BlockEvent[] {
    return this.#tail.get(stream)?.slice() ?? []
  }

  /** The streams with events in the tail, and their last one. */
  * tailStreams (): Generator<[string, BlockEvent]> {
    for (const [stream, events] of this.#tail) yield [stream, events[events.length - 1]!]
  }

  /**
   * Adds the events a batch writes (by stream, in revision order). When enough have gathered
   * (or `force`), also puts into `ops` the blocks of every waiting event, the streams'
   * summaries and the marker `last` (the batch's last position). Returns what to do once the
   * batch is written; nothing changes before.
   */
  stage (ops: WriteOp[], added: ReadonlyMap<string, BlockEvent[]>, last: number, force = false): () => void {
    let events = this.#events
    let bytes = this.#bytes
    for (const list of added.values()) {
      events += list.length
      for (const e of list) bytes += e.bytes.length
    }
    if (!force && events < indexSettings.flushEvents && bytes < indexSettings.flushBytes) {
      return () => {
        for (const [stream, list] of added) for (const e of list) this.#add(stream, e)
      }
    }
    const streams = new Set([...this.#tail.keys(), ...added.keys()])
    for (const stream of streams) {
      const list = [...(this.#tail.get(stream) ?? []), ...(added.get(stream) ?? [])]
      for (const block of splitBlocks(list)) ops.push({ key: streamKey(stream, block[0]!.revision), value: encodeBlock(block) })
      const end = list[list.length - 1]!
      ops.push({ key: summaryKey(stream), value: encodeSummary({ revision: end.revision, position: end.position, time: end.time }) })
    }
    ops.push({ key: INDEXED_KEY, value: encodeMarker(last) })
    return () => {
      this.#tail.clear()
      this.#events = 0
      this.#bytes = 0
    }
  }

  /** Forgets the events waiting in memory (after an import was undone). */
  clear (): void {
    this.#tail.clear()
    this.#events = 0
    this.#bytes = 0
  }

  /** Whether events are waiting in memory. */
  get pending (): boolean {
    return this.#events > 0
  }

  #add (stream: string, event: BlockEvent): void {
    let list = this.#tail.get(stream)
    if (list === undefined) this.#tail.set(stream, list = [])
    list.push(event)
    this.#events++
    this.#bytes += event.bytes.length
  }
}
