// Where snapshots are kept: read the newest one at or before a revision, write new ones in the
// background, prune those no definition uses. Snapshots are a cache: a write
// that fails, or one dropped because the database is closing, costs speed, never an answer.
//
// Writes never go through the log's writer, so appends never wait for them: a load queues its
// snapshots and returns; one write at a time takes everything queued, as one batch. A load that
// queues faster than they are written waits for room, so memory stays bounded.
import { readU64, spaceEnd, spaceStart, Space } from '../storage/keys.js'
import type { Storage, WriteOp } from '../storage/storage.js'
import type { Aggregate } from './define.js'
import { decodeSnapshot, type Snapshot } from './snapshot-codec.js'
import { parseSnapshotKey, snapshotKey } from './snapshot-keys.js'

/** Bytes of snapshots queued before a load waits for them to be written. */
const QUEUE_BYTES = 8 * 1024 * 1024
/** Keys read per step of a scan. */
const SCAN_CHUNK = 1024

export class SnapshotStore {
  readonly #storage: Storage
  #queue: WriteOp[] = []
  #queuedBytes = 0
  #writing: Promise<void> | undefined
  #closed = false

  constructor (storage: Storage) {
    this.#storage = storage
  }

  /**
   * The newest snapshot under `prefix` (stream and definition) at or before `revision`, for an
   * aggregate that keeps one every `every` revisions. The one due last is almost always there:
   * a point read finds it; only when it is not does a reverse seek look for an older one. Before
   * the first is due there is none to find (or only ones made under a smaller `every`, which are
   * not worth a seek on every load of a short stream).
   */
  async newest (prefix: Buffer, revision: number, every: number): Promise<Snapshot | undefined> {
    const due = Math.floor((revision + 1) / every) * every - 1
    if (due < 0) return undefined
    const bytes = await this.#storage.get(snapshotKey(prefix, due))
    const snapshot = bytes === undefined ? undefined : decodeSnapshot(due, bytes)
    return snapshot ?? await this.#seek(prefix, revision)
  }

  async #seek (prefix: Buffer, revision: number): Promise<Snapshot | undefined> {
    const it = this.#storage.entries({
      gte: snapshotKey(prefix, 0),
      lte: snapshotKey(prefix, revision),
      reverse: true
    })
    try {
      // the first is almost always usable; one that does not decode is skipped
      for (let chunk = await it.nextv(1); chunk.length > 0; chunk = await it.nextv(8)) {
        for (const [key, value] of chunk) {
          const snapshot = decodeSnapshot(readU64(key, prefix.length)!, value)
          if (snapshot !== undefined) return snapshot
        }
      }
      return undefined
    } finally {
      await it.close()
    }
  }

  /** Queues a snapshot for writing. Returns a promise when the load should wait for room. */
  add (key: Buffer, value: Buffer): Promise<void> | undefined {
    if (this.#closed) return undefined
    this.#queue.push({ key, value })
    this.#queuedBytes += key.length + value.length
    this.#write()
    return this.#queuedBytes > QUEUE_BYTES ? this.settled() : undefined
  }

  /** Resolves once every queued snapshot is written (or has failed). */
  async settled (): Promise<void> {
    while (this.#writing !== undefined) await this.#writing
  }

  /**
   * Deletes every snapshot that none of `keep` would use: of other names, other versions or
   * other code. Resolves with the number deleted.
   */
  async prune (keep: readonly Aggregate[]): Promise<number> {
    await this.settled()
    const kept = new Set(keep.map(a => `${a.name}\u0000${a.version}\u0000${a.fingerprint}`))
    return await deleteKeys(this.#storage, { gte: spaceStart(Space.snapshots), lt: spaceEnd(Space.snapshots) }, key => {
      const k = parseSnapshotKey(key)
      return k === undefined || !kept.has(`${k.name}\u0000${k.version}\u0000${k.fingerprint}`)
    })
  }

  /**
   * Deletes the snapshots of streams that lost their first revisions (`start` says where each
   * stream reads from now): a load of those neither uses nor writes snapshots. Resolves with the
   * number deleted.
   */
  async scavenge (start: (stream: string) => Promise<number>): Promise<number> {
    await this.settled()
    const starts = new Map<string, number>()
    let deleted = 0
    const it = this.#storage.keys({ gte: spaceStart(Space.snapshots), lt: spaceEnd(Space.snapshots) })
    try {
      for (let keys = await it.nextv(SCAN_CHUNK); keys.length > 0; keys = await it.nextv(SCAN_CHUNK)) {
        const ops: WriteOp[] = []
        for (const key of keys) {
          const parsed = parseSnapshotKey(key)
          if (parsed === undefined) continue
          let from = starts.get(parsed.stream)
          if (from === undefined) starts.set(parsed.stream, from = await start(parsed.stream))
          if (from > 0) ops.push({ key })
        }
        deleted += ops.length
        if (ops.length > 0) await this.#storage.write(ops, false)
      }
    } finally {
      await it.close()
    }
    return deleted
  }

  /** Writes what is queued, then accepts no more. */
  async close (): Promise<void> {
    this.#closed = true
    await this.settled()
  }

  #write (): void {
    if (this.#writing !== undefined) return
    this.#writing = (async () => {
      try {
        // start once the load has queued the rest of its chunk's snapshots, to write them together
        await null
        while (this.#queue.length > 0) {
          const ops = this.#queue
          this.#queue = []
          this.#queuedBytes = 0
          await this.#storage.write(ops, false).catch(() => {}) // a cache: a failed write costs only speed
        }
      } finally {
        this.#writing = undefined
      }
    })()
  }
}

/** Deletes the keys of a range that `doomed` picks, a chunk at a time. */
async function deleteKeys (storage: Storage, range: { gte: Buffer, lt: Buffer }, doomed: (key: Buffer) => boolean): Promise<number> {
  const it = storage.keys(range)
  let deleted = 0
  try {
    for (let keys = await it.nextv(SCAN_CHUNK); keys.length > 0; keys = await it.nextv(SCAN_CHUNK)) {
      const ops: WriteOp[] = keys.filter(doomed).map(key => ({ key }))
      deleted += ops.length
      if (ops.length > 0) await storage.write(ops, false)
    }
  } finally {
    await it.close()
  }
  return deleted
}
