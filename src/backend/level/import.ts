// Importing a log into an empty level backend: events written as they were in the database
// they came from, at their positions, with their revisions, commit times and ids, rather than
// as new appends (`annals import`). The events must make a log: increasing positions (those
// skipped were removed where the log came from, and stay holes here), each stream's revisions
// without gaps (from the first that still read), times that never decrease, ids used once. They
// are written as the writer writes them: chunks (one per run of events with one commit time),
// id index entries, and the streams' blocks. Everything written can be undone.
import { AnnalsError } from '../../errors.js'
import { Space, spaceEnd, spaceStart } from '../../storage/keys.js'
import type { WriteOp } from '../../storage/storage.js'
import { LIFECYCLE_STREAM, type LogImporter, type PlacedEvent } from '../backend.js'
import type { Rules } from '../rules.js'
import { Writer as Bytes } from './bytes.js'
import { CHUNK_BYTES, CHUNK_EVENTS, ChunkBuilder } from './chunk.js'
import type { LevelDoor } from './door.js'
import { eventSize, writeEvent } from './event-record.js'
import { decodeIdEntry, encodeIdEntry, idKey } from './ids.js'
import { RevisionCache } from '../revision-cache.js'
import { lifecycleOf } from '../lifecycle.js'
import type { BlockEvent } from './stream-block.js'
import { INDEXED_KEY, StreamIndex } from './stream-index.js'
import { stageTagHeads, tagKey, tagValue } from './tags.js'

/** Streams whose revision is kept in memory during an import. */
const REVISION_CACHE_SIZE = 65536
/** The key spaces an import writes. */
const SPACES = [Space.log, Space.streams, Space.summaries, Space.ids, Space.uuids, Space.tags, Space.tagHeads, Space.rules]

export class LevelImporter implements LogImporter {
  readonly #door: LevelDoor
  readonly #index: StreamIndex
  readonly #revisions = new RevisionCache(REVISION_CACHE_SIZE)
  /** the next position expected, and the time of the last event */
  #next = 0
  #time = 0
  /** events imported (positions less the holes) */
  #count = 0

  readonly #rules: Rules

  private constructor (door: LevelDoor, index: StreamIndex, rules: Rules) {
    this.#door = door
    this.#index = index
    this.#rules = rules
  }

  /** An importer into `door`, whose log must be empty (a `TypeError` otherwise). */
  static async start (door: LevelDoor, index: StreamIndex, rules: Rules): Promise<LevelImporter> {
    for (const space of SPACES) {
      if (await door.firstKey({ gte: spaceStart(space), lt: spaceEnd(space) }) !== undefined) {
        throw new TypeError('An import needs a database without events')
      }
    }
    return new LevelImporter(door, index, rules)
  }

  get count (): number {
    return this.#count
  }

  async add (events: readonly PlacedEvent[]): Promise<void> {
    if (events.length === 0) return
    const ops: WriteOp[] = []
    const added = new Map<string, BlockEvent[]>()
    const revisions = new Map<string, number>()
    const ids = new Map<string, number>()
    const chunks: ChunkBuilder[] = []
    const tagHeads = new Map<string, number>()
    // every entry of the chunks, in order: the event placed there, or undefined for a hole
    const placed: Array<BlockEvent | undefined> = []
    let position = this.#next
    let time = this.#time
    const applied: Array<() => void> = []
    for (const p of events) {
      const at = `The event at position ${p.position}`
      if (!Number.isSafeInteger(p.position) || p.position < position) {
        throw invalid(`${at} comes where position ${position} or a later one was expected: an import holds a log in position order`)
      }
      if (!Number.isSafeInteger(p.time) || p.time < time) {
        throw invalid(`${at} has time ${p.time}: times are milliseconds since the epoch and never decrease (the event before has ${time})`)
      }
      // positions skipped are events removed where the log came from: they stay taken, removed
      for (; position < p.position; position++) {
        let chunk = chunks[chunks.length - 1]
        if (chunk === undefined || chunk.count >= CHUNK_EVENTS) chunks.push(chunk = new ChunkBuilder(position, time))
        chunk.add(EMPTY)
        placed.push(undefined)
      }
      const current = revisions.get(p.stream) ?? this.#revisions.get(p.stream) ?? await this.#index.revision(p.stream)
      if (current === -1 && p.revision > 0 && this.#rules.stream(p.stream) === undefined) {
        // a stream whose first revisions were removed where it came from starts later here too
        applied.push(this.#rules.stageStream(ops, p.stream, { truncateBefore: p.revision, tombstoned: false }))
      } else if (p.revision !== current + 1) {
        throw invalid(`${at} has revision ${p.revision} of stream '${p.stream}', whose next revision is ${current + 1}`)
      }
      if (p.stream === LIFECYCLE_STREAM) {
        const change = lifecycleOf(p.event)
        if (change !== undefined) applied.push(change(ops, this.#rules))
      }
      const id = p.event.id
      if (ids.has(id)) throw new AnnalsError('ANNALS_DUPLICATE_ID', `${at} has the id '${id}' of the event at position ${ids.get(id)!}`)
      ids.set(id, position)
      const w = new Bytes(eventSize(p.stream, p.event))
      writeEvent(w, p.stream, p.revision, p.event)
      const bytes = w.done()
      let chunk = chunks[chunks.length - 1]
      if (chunk === undefined || chunk.time !== p.time || chunk.count >= CHUNK_EVENTS || chunk.bytes >= CHUNK_BYTES) {
        chunks.push(chunk = new ChunkBuilder(position, p.time))
      }
      chunk.add(bytes)
      const e: BlockEvent = { revision: p.revision, position, time: p.time, bytes }
      placed.push(e)
      let list = added.get(p.stream)
      if (list === undefined) added.set(p.stream, list = [])
      list.push(e)
      ops.push({ key: idKey(id), value: encodeIdEntry({ position, revision: p.revision, digest: p.event.digest ?? Buffer.alloc(0) }) })
      for (const tag of p.event.tags ?? []) {
        ops.push({ key: tagKey(tag, position), value: tagValue(p.event.type, p.event.tags!) })
        tagHeads.set(tag, position)
      }
      revisions.set(p.stream, p.revision)
      time = p.time
      position++
    }
    const stored = await this.#door.getMany([...ids.keys()].map(id => idKey(id)))
    ;[...ids.keys()].forEach((id, i) => {
      const value = stored[i]
      if (value !== undefined) throw new AnnalsError('ANNALS_DUPLICATE_ID', `The event at position ${ids.get(id)!} has the id '${id}' of the event at position ${decodeIdEntry(id, value).position}`)
    })
    let k = 0
    for (const chunk of chunks) {
      const { key, value, events: views } = chunk.finish()
      ops.push({ key, value })
      for (const bytes of views) {
        const e = placed[k++]
        if (e !== undefined) e.bytes = bytes
      }
    }
    stageTagHeads(ops, tagHeads)
    const staged = this.#index.stage(ops, added, position - 1)
    await this.#door.write(ops, false)
    staged()
    for (const apply of applied) apply()
    for (const [stream, revision] of revisions) this.#revisions.set(stream, revision)
    this.#next = position
    this.#time = time
    this.#count += events.length
  }

  async finish (): Promise<{ position: number, time: number }> {
    if (this.#next > 0) {
      const ops: WriteOp[] = []
      const staged = this.#index.stage(ops, new Map(), this.#next - 1, true)
      await this.#door.write(ops, true)
      staged()
    }
    return { position: this.#next - 1, time: this.#time }
  }

  async abort (): Promise<void> {
    for (const space of SPACES) {
      const it = this.#door.keys({ gte: spaceStart(space), lt: spaceEnd(space) })
      try {
        for (let keys = await it.nextv(1024); keys.length > 0; keys = await it.nextv(1024)) {
          await this.#door.write(keys.map(key => ({ key })), false)
        }
      } finally {
        await it.close()
      }
    }
    await this.#door.write([{ key: INDEXED_KEY }], true)
  }
}

const EMPTY = Buffer.alloc(0)


function invalid (message: string): AnnalsError {
  return new AnnalsError('ANNALS_INVALID_EVENT', message)
}
