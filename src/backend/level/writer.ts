// The one writer of the level backend. Appends queue up (group-commit.ts); whenever the writer
// is free it takes everything waiting, checks each append on its own (expected revision,
// idempotent ids) and writes all that passed as one atomic batch: the events as one or more
// chunks (chunk.ts), id index entries, and every few thousand events the streams' blocks
// (stream-index.ts). One that fails its checks fails alone.
import { AnnalsError } from '../../errors.js'
import type { AppendResult, ExpectedRevision, RecordedEvent } from '../../log/types.js'
import { decode } from '../../storage/codec.js'
import { Space, namedKey, u64 } from '../../storage/keys.js'
import type { WriteOp } from '../../storage/storage.js'
import { sealedEvents, type AppendHook, type AppendRequest, type CommitListener, type LogHead, type ReadyEvent } from '../backend.js'
import { GroupCommit, type Queued } from '../group-commit.js'
import { CHUNK_BYTES, CHUNK_EVENTS, ChunkBuilder, chunkAt } from './chunk.js'
import type { LevelDoor } from './door.js'
import { eventParts, writeEvent } from './event-record.js'
import { decodeIdEntry, encodeIdEntry, idKey, type IdEntry } from './ids.js'
import { RevisionCache } from './revision-cache.js'
import type { BlockEvent } from './stream-block.js'
import type { StreamIndex } from './stream-index.js'

/** Streams whose revision is kept in memory. */
const REVISION_CACHE_SIZE = 65536
/** A write that makes what came before it durable, when a batch has nothing else to write. */
const SYNC_KEY = namedKey(Space.meta, 'synced')

interface Request extends Queued<AppendResult> {
  append: AppendRequest
}

/** An event with an indexed id, placed in the batch being built, or stored before. */
interface Placed extends IdEntry {
  stream: string
  type: string
  data: Buffer
  metadata: Buffer | undefined
}

/** What the checks of a batch read from storage. */
interface Known {
  revisions: Map<string, number>
  ids: Map<string, Placed>
}

const NOTHING_KNOWN: Known = { revisions: new Map(), ids: new Map() }
const EMPTY = Buffer.alloc(0)

export class LevelWriter {
  readonly #door: LevelDoor
  readonly #index: StreamIndex
  readonly #sync: boolean
  readonly #revisions = new RevisionCache(REVISION_CACHE_SIZE)
  readonly #listeners = new Set<CommitListener>()
  readonly #queue: GroupCommit<Request, AppendResult>
  #hook: AppendHook | undefined
  #head: LogHead

  constructor (door: LevelDoor, index: StreamIndex, head: LogHead, sync: boolean) {
    this.#door = door
    this.#index = index
    this.#head = head
    this.#sync = sync
    this.#queue = new GroupCommit(async group => { await this.#commit(group) })
  }

  get head (): LogHead {
    return this.#head
  }

  append (request: AppendRequest): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ append: request, size: request.events.length, resolve, reject })
    })
  }

  /** The log was imported (backend's importer): its head is now `head`. */
  imported (head: LogHead): void {
    this.#head = head
  }

  /** The revision of the last event of `stream`, or -1. Committed state only. */
  async revision (stream: string): Promise<number> {
    return this.#revisions.get(stream) ?? await this.#index.revision(stream)
  }

  setHook (hook: AppendHook | undefined): void {
    this.#hook = hook
  }

  onCommit (listener: CommitListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Writes what is queued, then the streams' blocks still in memory, so that the next open has nothing to rebuild. */
  async flush (): Promise<void> {
    await this.#queue.drain()
    if (!this.#index.pending) return
    const ops: WriteOp[] = []
    const staged = this.#index.stage(ops, new Map(), this.#head.position, true)
    await this.#door.write(ops, this.#sync)
    staged()
  }

  async #commit (group: Request[]): Promise<void> {
    let known = NOTHING_KNOWN
    try {
      if (this.#mustRead(group)) known = await this.#prefetch(group)
    } catch (err) {
      for (const r of group) r.reject(err)
      return
    }
    const hook = this.#hook
    const time = Math.max(Date.now(), this.#head.time)
    const revisions = new Map<string, number>() // stream -> revision after this batch
    const added = new Map<string, BlockEvent[]>() // stream -> its events in this batch
    const placedIds = new Map<string, Placed>()
    const ops: WriteOp[] = []
    const chunks: ChunkBuilder[] = []
    const placed: BlockEvent[] = [] // every event of the batch, in position order
    // appends answered by this batch; `written` when their answer depends on its write
    const done: Array<{ request: Request, result: AppendResult, written: boolean }> = []
    let position = this.#head.position + 1
    let sync = false
    let syncRetried = false

    for (const q of group) {
      const r = q.append
      try {
        const again = retried(r.stream, r.events, known.ids, placedIds)
        if (again !== undefined) {
          done.push({ request: q, result: again.result, written: again.pending })
          syncRetried ||= r.sync ?? this.#sync
          continue
        }
        const current = revisions.get(r.stream) ?? known.revisions.get(r.stream) ?? this.#revisions.get(r.stream)!
        checkExpected(r.stream, r.expected, current)
        // the hook (inline projections) takes part last: if it throws, nothing was added yet
        const extra = hook === undefined ? undefined : await hook.append(storedEvents(r, current, position, time))
        // the append passed every check: it joins the batch
        let list = added.get(r.stream)
        if (list === undefined) added.set(r.stream, list = [])
        for (let i = 0; i < r.events.length; i++) {
          const e = r.events[i]!
          let chunk = chunks[chunks.length - 1]
          if (chunk === undefined || chunk.count >= CHUNK_EVENTS || chunk.bytes >= CHUNK_BYTES) chunks.push(chunk = new ChunkBuilder(position + i, time))
          writeEvent(chunk.event(), r.stream, current + 1 + i, e)
          chunk.end()
          // its bytes in the tail are a view into its chunk, once that is finished
          const event: BlockEvent = { revision: current + 1 + i, position: position + i, time, bytes: EMPTY }
          placed.push(event)
          list.push(event)
          if (e.indexed) {
            const entry: IdEntry = { position: position + i, revision: current + 1 + i, digest: e.digest ?? EMPTY }
            ops.push({ key: idKey(e.id, e.idBytes), value: encodeIdEntry(entry) })
            // a fresh id cannot come again in this batch: only given ones are looked for
            if (!e.fresh) placedIds.set(e.id, { ...entry, stream: r.stream, type: e.type, data: e.data, metadata: e.metadata })
          }
        }
        if (extra !== undefined) ops.push(...extra)
        position += r.events.length
        revisions.set(r.stream, current + r.events.length)
        sync ||= r.sync ?? this.#sync
        done.push({ request: q, result: { revision: current + r.events.length, position: position - 1 }, written: true })
      } catch (err) {
        q.reject(err)
      }
    }

    if (placed.length === 0) {
      // nothing joins this batch, so nothing the hook staged for it (a catch-up's writes) is written
      hook?.settle(false)
      if (syncRetried) {
        try {
          await this.#door.write([{ key: SYNC_KEY, value: u64(time) }], true)
        } catch (err) {
          for (const { request } of done) request.reject(err)
          return
        }
      }
      for (const { request, result } of done) request.resolve(result)
      return
    }
    const fail = (err: unknown): void => {
      hook?.settle(false)
      for (const { request, result, written } of done) {
        if (written) request.reject(err)
        else request.resolve(result)
      }
    }
    try {
      if (hook?.finish !== undefined) ops.push(...hook.finish())
      // each event's bytes in the tail are a view into its chunk, as written
      let k = 0
      for (const chunk of chunks) {
        const { key, value, events } = chunk.finish()
        ops.push({ key, value })
        for (const bytes of events) placed[k++]!.bytes = bytes
      }
    } catch (err) {
      fail(err)
      return
    }
    const indexed = this.#index.stage(ops, added, position - 1)
    try {
      await this.#door.write(ops, sync || syncRetried)
    } catch (err) {
      fail(err)
      return
    }
    hook?.settle(true)
    indexed()
    for (const [stream, revision] of revisions) this.#revisions.set(stream, revision)
    const first = this.#head.position + 1
    this.#head = { position: position - 1, time }
    for (const { request, result } of done) request.resolve(result)
    for (const listener of this.#listeners) {
      try {
        listener(first, position - 1)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
  }

  /** Whether the checks of this group need reads: a stream not in the cache, or an id that may be stored. */
  #mustRead (group: Request[]): boolean {
    for (const { append: r } of group) {
      if (this.#revisions.get(r.stream) === undefined) return true
      for (const e of r.events) if (e.indexed && !e.fresh) return true
    }
    return false
  }

  /** Reads what the checks need and the cache lacks: revisions of streams, entries of ids. */
  async #prefetch (group: Request[]): Promise<Known> {
    const streams = new Set<string>()
    const ids: string[] = []
    for (const { append: r } of group) {
      if (this.#revisions.get(r.stream) === undefined) streams.add(r.stream)
      for (const e of r.events) if (e.indexed && !e.fresh) ids.push(e.id)
    }
    const revisions = new Map<string, number>()
    const found = new Map<string, Placed>()
    await Promise.all([
      Promise.all([...streams].map(async s => { revisions.set(s, await this.#index.revision(s)) })),
      (async () => {
        const values = await this.#door.getMany(ids.map(id => idKey(id)))
        // a retry: what is stored at that id, for comparison
        await Promise.all(ids.map(async (id, i) => {
          const value = values[i]
          if (value === undefined) return
          const entry = decodeIdEntry(id, value)
          const chunk = await chunkAt(this.#door, entry.position)
          const k = entry.position - chunk.first
          const parts = eventParts(chunk.buffer, chunk.spans[2 * k]!, chunk.spans[2 * k + 1]!)
          if (parts.id !== id) throw new AnnalsError('ANNALS_CORRUPT', `The id index puts '${id}' at position ${entry.position}, which holds another event`)
          found.set(id, { ...entry, stream: parts.stream, type: parts.type, data: parts.data, metadata: parts.metadata })
        }))
      })()
    ])
    return { revisions, ids: found }
  }
}

/** The events of an append as they are stored, for the hook. */
function storedEvents (r: AppendRequest, current: number, position: number, time: number): RecordedEvent[] {
  return r.events.map((e, i) => {
    const event: RecordedEvent = {
      id: e.id,
      stream: r.stream,
      revision: current + 1 + i,
      position: position + i,
      type: e.type,
      data: e.value?.data ?? decode(e.data) ?? null,
      metadata: e.value?.metadata ?? (e.metadata === undefined ? {} : decode(e.metadata) as Record<string, unknown>),
      time
    }
    if (e.sealed) sealedEvents.add(event)
    return event
  })
}

/**
 * If every event of an append to `stream` is already stored (in `found`) or placed earlier in
 * the batch being built (in `placed`), with the same content, in the same order: the result of
 * the original, and whether it waits for the batch being built. Undefined when none is.
 * Anything in between is `ANNALS_DUPLICATE_ID`.
 */
function retried (stream: string, events: readonly ReadyEvent[], found: ReadonlyMap<string, Placed>, placed: ReadonlyMap<string, Placed>): { result: AppendResult, pending: boolean } | undefined {
  let matches = 0
  let seen: Set<string> | undefined
  for (const e of events) {
    if (!e.indexed || e.fresh) continue
    seen ??= new Set()
    if (seen.has(e.id)) throw duplicate(`The id '${e.id}' appears twice in one append`)
    seen.add(e.id)
    if (placed.has(e.id) || found.has(e.id)) matches++
  }
  if (matches === 0) return undefined
  if (matches < events.length) throw duplicate('Some events of this append are already stored and some are not')
  let last: AppendResult | undefined
  let inBatch = false
  for (const e of events) {
    const p = placed.get(e.id)
    const at = p ?? found.get(e.id)!
    const same = at.stream === stream && at.type === e.type && (last === undefined || at.revision > last.revision) &&
      (e.digest !== undefined ? at.digest.equals(e.digest) : at.data.equals(e.data) && sameBytes(at.metadata, e.metadata))
    if (!same) throw duplicate(`The id '${e.id}' is already stored with other content, stream or order`)
    last = { revision: at.revision, position: at.position }
    inBatch ||= p !== undefined
  }
  return { result: last!, pending: inBatch }
}

function sameBytes (a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.equals(b)
}

function duplicate (message: string): AnnalsError {
  return new AnnalsError('ANNALS_DUPLICATE_ID', message)
}

function checkExpected (stream: string, expected: ExpectedRevision, current: number): void {
  const ok = expected === 'any' ||
    (expected === 'no_stream' && current === -1) ||
    (expected === 'stream_exists' && current >= 0) ||
    expected === current
  if (!ok) {
    throw new AnnalsError('ANNALS_WRONG_EXPECTED_REVISION',
      `Stream '${stream}' is at revision ${current}; the append expected ${String(expected)}`)
  }
}
