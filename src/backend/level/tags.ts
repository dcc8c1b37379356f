// The tag index, and queries over it (the Dynamic Consistency Boundary model): an entry per
// event and tag, written with the event, in the same batch, so that it is always complete. A
// query item with tags is answered by scanning the entries of its first tag past a position;
// the entry says the event's type and all its tags, so the rest of the item is checked without
// reading the event.
//
//   key    `T` + tag (UTF-8) + 0x00 + position (u64)
//   value  MessagePack [type, tags]
import { AnnalsError } from '../../errors.js'
import { decode, encode } from '../../storage/codec.js'
import { Space, nameBounds, readU64, writeU64 } from '../../storage/keys.js'
import type { Storage } from '../../storage/storage.js'
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

export function tagValue (type: string, tags: readonly string[]): Buffer {
  return encode([type, tags])
}

/** A tag index entry read back: throws when it does not parse. */
export function decodeTagEntry (key: Buffer, value: Buffer): { tag: string, position: number, type: string, tags: string[] } {
  if (key.length < 10 || key[key.length - 9] !== 0) throw new Error('a key without its position')
  const entry = decode(value)
  if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1]) || !entry[1].every(t => typeof t === 'string')) {
    throw new Error('a value that is not [type, tags]')
  }
  return { tag: key.toString('utf8', 1, key.length - 9), position: readU64(key, key.length - 8)!, type: entry[0], tags: entry[1] as string[] }
}

/** Whether an event of `type` carrying `tags` matches an item. */
export function matchesItem (item: QueryItem, type: string, tags: readonly string[] | undefined): boolean {
  if (item.types !== undefined && item.types.length > 0 && !item.types.includes(type)) return false
  if (item.tags !== undefined) for (const tag of item.tags) if (tags === undefined || !tags.includes(tag)) return false
  return true
}

/** Whether an event matches a query: any item; a query without items matches every event. */
export function matchesQuery (query: EventQuery, type: string, tags: readonly string[] | undefined): boolean {
  if (query.length === 0) return true
  for (const item of query) if (matchesItem(item, type, tags)) return true
  return false
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
