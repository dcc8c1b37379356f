// The tag index, and queries over it (the Dynamic Consistency Boundary model): an entry per
// event and tag, written with the event, in the same batch, so that it is always complete. A
// query item with tags is answered by scanning the entries of its first tag past a position;
// the entry says the event's type and all its tags, so the rest of the item is checked without
// reading the event.
//
//   key    `T` + tag (UTF-8) + 0x00 + position (u64)
//   value  MessagePack [type, tags]
//
// Beside it, each tag's head: the last position of an event with that tag, written in the same
// batch. An append's condition on tags that no event after its `after` carries (a claim of
// something new, the common case) is then answered by point reads of the heads, a microsecond
// each, instead of a scan of the index (a LevelDB iterator, some twenty). A head may be past the
// tag's last entry (a scavenge leaves heads as they are): then the index is scanned, as without.
// A marker says every tag has its head; a database without it (made before the heads) gets them
// at open, in one pass over the index.
//
//   key    `G` + tag (UTF-8)
//   value  position (u64)
import { AnnalsError } from '../../errors.js'
import { decode, encode } from '../../storage/codec.js'
import { Space, nameBounds, namedKey, readU64, spaceEnd, spaceStart, u64, writeU64 } from '../../storage/keys.js'
import type { Storage, WriteOp } from '../../storage/storage.js'
import { matchesItem } from '../append-checks.js'
import type { EventQuery, QueryItem } from '../backend.js'

export function tagKey (tag: string, position: number): Buffer {
  const length = Buffer.byteLength(tag)
  const key = Buffer.allocUnsafe(length + 10)
  key[0] = Space.tags
  key.write(tag, 1, 'utf8')
  key[length + 1] = 0
  writeU64(key, position, length + 2)
  return key
}

/** The key of a tag's head. */
export function tagHeadKey (tag: string): Buffer {
  return namedKey(Space.tagHeads, tag)
}

/** The marker saying that every tag of the index has its head. */
export const TAG_HEADS_KEY = namedKey(Space.meta, 'tag-heads')

/** Adds to `ops` the heads of the tags of a batch's events: `last` maps each tag to its last position there. */
export function stageTagHeads (ops: WriteOp[], last: ReadonlyMap<string, number>): void {
  for (const [tag, position] of last) ops.push({ key: tagHeadKey(tag), value: u64(position) })
}

/** A head read back: the position, or ANNALS_CORRUPT. */
function headPosition (tag: string, value: Buffer | undefined): number {
  if (value === undefined) return -1
  const position = value.length === 8 ? readU64(value, 0) : undefined
  if (position === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The head of the tag '${tag}' is damaged`)
  return position
}

/** The last position of an event with each of `tags` (-1: none), by their heads. */
export async function tagHeads (storage: Storage, tags: readonly string[]): Promise<number[]> {
  const values = await storage.getMany(tags.map(tagHeadKey))
  return tags.map((tag, i) => headPosition(tag, values[i]))
}

/**
 * Whether the heads show that no event past `after` can match `query`, whose items all have
 * tags: an item matches only events with every one of its tags, so none past the least head of
 * its tags.
 */
export async function noneAfter (storage: Storage, query: EventQuery, after: number): Promise<boolean> {
  const tags = [...new Set(query.flatMap(item => item.tags!))]
  const heads = new Map(tags.map((tag, i) => [tag, i]))
  const at = await tagHeads(storage, tags)
  return query.every(item => Math.min(...item.tags!.map(tag => at[heads.get(tag)!]!)) <= after)
}

/**
 * Makes sure every tag of the index has its head (and the marker says so): in a database made
 * before the heads, writes them in one pass over the index. Entries come tag by tag, but a head
 * is never lowered, so a tag met again later (or heads left by a pass cut short) come out right.
 */
export async function ensureTagHeads (storage: Storage): Promise<void> {
  if (await storage.get(TAG_HEADS_KEY) !== undefined) return
  const last = new Map<string, number>()
  const write = async (done: boolean): Promise<void> => {
    const tags = [...last.keys()]
    const stored = await tagHeads(storage, tags)
    const ops: WriteOp[] = []
    tags.forEach((tag, i) => { if (last.get(tag)! > stored[i]!) ops.push({ key: tagHeadKey(tag), value: u64(last.get(tag)!) }) })
    if (done) ops.push({ key: TAG_HEADS_KEY, value: Buffer.alloc(0) })
    await storage.write(ops, done)
    last.clear()
  }
  const it = storage.keys({ gte: spaceStart(Space.tags), lt: spaceEnd(Space.tags) })
  try {
    for (let keys = await it.nextv(1024); keys.length > 0; keys = await it.nextv(1024)) {
      for (const key of keys) {
        const parts = tagKeyParts(key)
        if (parts === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The tag index entry ${key.toString('hex')} is damaged`)
        last.set(parts.tag, Math.max(parts.position, last.get(parts.tag) ?? -1))
      }
      if (last.size >= 1024) await write(false)
    }
  } finally {
    await it.close()
  }
  await write(true)
}

export function tagValue (type: string, tags: readonly string[]): Buffer {
  return encode([type, tags])
}

/** A tag index entry read back: throws when it does not parse. */
/** The tag and position of a tag index entry's key; undefined when it has no position. */
function tagKeyParts (key: Buffer): { tag: string, position: number } | undefined {
  const position = key.length >= 10 && key[key.length - 9] === 0 ? readU64(key, key.length - 8) : undefined
  return position === undefined ? undefined : { tag: key.toString('utf8', 1, key.length - 9), position }
}

export function decodeTagEntry (key: Buffer, value: Buffer): { tag: string, position: number, type: string, tags: string[] } {
  const parts = tagKeyParts(key)
  if (parts === undefined) throw new Error('a key without its position')
  const entry = decode(value)
  if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1]) || !entry[1].every(t => typeof t === 'string')) {
    throw new Error('a value that is not [type, tags]')
  }
  return { ...parts, type: entry[0], tags: entry[1] as string[] }
}

/** Whether every item of a query can be answered from the tag index (each has a tag). */
export function indexable (query: EventQuery): boolean {
  return query.length > 0 && query.every(item => item.tags !== undefined && item.tags.length > 0)
}

/**
 * Positions of the events matching an item with tags, within `low..high`, in order (or
 * backwards), from the entries of its first tag; `batch` at a time.
 */
export async function * itemPositions (storage: Storage, item: QueryItem, low: number, high: number, backwards: boolean, batch = 256): AsyncGenerator<number[]> {
  const tag = item.tags![0]!
  const { lt } = nameBounds(Space.tags, tag)
  const it = storage.entries({ gte: tagKey(tag, low), ...(high === Infinity ? { lt } : { lte: tagKey(tag, high) }), reverse: backwards })
  try {
    for (let entries = await it.nextv(batch); entries.length > 0; entries = await it.nextv(batch)) {
      const out: number[] = []
      for (const [key, value] of entries) {
        const position = readU64(key, key.length - 8)
        let entry: unknown
        try {
          entry = decode(value)
        } catch {}
        if (position === undefined || !Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) {
          throw new AnnalsError('ANNALS_CORRUPT', `The tag index entry of '${tag}' at ${key.toString('hex')} is damaged`)
        }
        if (matchesItem(item, entry[0], entry[1] as string[])) out.push(position)
      }
      if (out.length > 0) yield out
    }
  } finally {
    await it.close()
  }
}

/**
 * Positions of the events matching a query whose items all have tags, within `low..high`, in
 * order (or backwards), each once: the items' positions merged.
 */
export async function * queryPositions (storage: Storage, query: EventQuery, low: number, high: number, backwards: boolean): AsyncGenerator<number[]> {
  const sources = query.map(item => itemPositions(storage, item, low, high, backwards))
  const heads: Array<{ buffer: number[], at: number, source: AsyncGenerator<number[]> } | undefined> = []
  try {
    for (const source of sources) {
      const first = await source.next()
      heads.push(first.done === true ? undefined : { buffer: first.value, at: 0, source })
    }
    let last: number | undefined
    for (;;) {
      const out: number[] = []
      while (out.length < 256) {
        let best: number | undefined
        let from = -1
        heads.forEach((h, i) => {
          if (h === undefined) return
          const p = h.buffer[h.at]!
          if (best === undefined || (backwards ? p > best : p < best)) {
            best = p
            from = i
          }
        })
        if (best === undefined) break
        const h = heads[from]!
        if (++h.at === h.buffer.length) {
          const next = await h.source.next()
          heads[from] = next.done === true ? undefined : { buffer: next.value, at: 0, source: h.source }
        }
        if (best !== last) out.push(best)
        last = best
      }
      if (out.length === 0) return
      yield out
    }
  } finally {
    await Promise.all(sources.map(async s => await s.return(undefined)))
  }
}
