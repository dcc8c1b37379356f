// View history: every change of every key, with the position of the event that made it, so a
// view can be read as it was at any position. The changes of one key written in one batch form
// one block, keyed by the key and the block's first position:
//   H gen key* 0x00 first -> [position, document or null, position, document or null, ...]
// (documents as their encoded bytes, null for a delete). The document at `key` as of position
// p is then in the last block whose first position is at most p: one backward seek, and a
// look through one block.
import { AnnalsError } from '../errors.js'
import { decode, encode } from '../storage/codec.js'
import { Space, prefixRange, spaceEnd, spaceStart, writeU64 } from '../storage/keys.js'
import type { Storage, WriteOp } from '../storage/storage.js'
import {
  historyKey, historyKeyBound, historyKeyFirst, historyKeyPart, historyPrefix, unescapeKey
} from './keys.js'
import { storedDoc, type DocReader, type KeyBounds } from './view.js'

/** Encodes a block of changes: [position, bytes | null, ...] in position order. */
export function encodeBlock (changes: ReadonlyArray<number | Buffer | null>): Buffer {
  return encode(changes)
}

/**
 * The value in `block` as of `position`: the bytes of the last change at or before it (null for
 * a delete), or undefined when every change in the block is later.
 */
function valueAt (block: Buffer, position: number): Buffer | null | undefined {
  let changes: unknown
  try {
    changes = decode(block)
  } catch (err) {
    throw new AnnalsError('ANNALS_CORRUPT', 'A block of view history does not decode', { cause: err })
  }
  if (!Array.isArray(changes)) throw new AnnalsError('ANNALS_CORRUPT', 'A block of view history is malformed')
  let found: Buffer | null | undefined
  for (let i = 0; i < changes.length; i += 2) {
    if ((changes[i] as number) > position) break
    found = changes[i + 1] as Buffer | null
  }
  return found
}

/** The document at `key` as of `position`, from the history of generation `gen`. */
export async function historyGet (storage: Storage, gen: number, key: string, position: number, read: DocReader = storedDoc): Promise<unknown> {
  if (position < 0) return undefined
  const entry = await storage.firstEntry({ gte: historyKeyBound(gen, key, 0), lte: historyKey(gen, key, position), reverse: true })
  if (entry === undefined) return undefined
  const value = valueAt(entry[1], position)
  return value === undefined || value === null ? undefined : await read(value)
}

/**
 * Documents of generation `gen` as of `position`, by key in `bounds`: a scan of the history of
 * those keys, in key order (or reverse), deciding each key by its last block at or before
 * `position`.
 */
export async function * historyQuery (storage: Storage, gen: number, bounds: KeyBounds, position: number, read: DocReader = storedDoc): AsyncGenerator<[string, unknown]> {
  if (position < 0 || bounds.limit === 0) return
  const range = prefixRange(historyPrefix(gen))
  const lower = bounds.gte !== undefined ? historyKeyBound(gen, bounds.gte, 0) : bounds.gt !== undefined ? historyKeyBound(gen, bounds.gt, 1) : range.gte
  const upper = bounds.lte !== undefined ? historyKeyBound(gen, bounds.lte, 1) : bounds.lt !== undefined ? historyKeyBound(gen, bounds.lt, 0) : range.lt
  if (Buffer.compare(lower, upper) >= 0) return
  const it = storage.entries({ gte: lower, lt: upper, reverse: bounds.reverse })
  let left = bounds.limit
  let part: Buffer | undefined // the escaped view key being decided
  let candidate: Buffer | undefined // its block that answers, so far
  const decide = async (): Promise<[string, unknown] | undefined> => {
    if (part === undefined || candidate === undefined) return undefined
    const value = valueAt(candidate, position)
    return value === undefined || value === null ? undefined : [unescapeKey(part), await read(value)]
  }
  try {
    for (let entries = await it.nextv(256); entries.length > 0; entries = await it.nextv(1024)) {
      for (const [key, block] of entries) {
        const p = historyKeyPart(key)
        if (part === undefined || !p.equals(part)) {
          const done = await decide()
          if (done !== undefined) {
            yield done
            if (--left === 0) return
          }
          part = Buffer.from(p)
          candidate = undefined
        }
        // forwards, blocks come oldest first: the last one not after `position` answers;
        // backwards, the first one not after it
        if (historyKeyFirst(key) <= position && (!bounds.reverse || candidate === undefined)) candidate = block
      }
    }
    const done = await decide()
    if (done !== undefined) yield done
  } finally {
    await it.close()
  }
}

/**
 * Drops from every generation's history the changes that removed events made (a scavenge): a
 * block keeps its other changes, under the key of its new first position; a block of removed
 * changes only goes. A scan of the history space, a chunk at a time.
 */
export async function scavengeHistory (storage: Storage, removed: (position: number) => boolean): Promise<number> {
  let dropped = 0
  const it = storage.entries({ gte: spaceStart(Space.history), lt: spaceEnd(Space.history) })
  try {
    for (let entries = await it.nextv(256); entries.length > 0; entries = await it.nextv(256)) {
      const ops: WriteOp[] = []
      for (const [key, value] of entries) {
        let changes: unknown
        try {
          changes = decode(value)
        } catch (err) {
          throw new AnnalsError('ANNALS_CORRUPT', 'A block of view history does not decode', { cause: err })
        }
        if (!Array.isArray(changes)) throw new AnnalsError('ANNALS_CORRUPT', 'A block of view history is malformed')
        const kept: unknown[] = []
        for (let i = 0; i < changes.length; i += 2) {
          if (removed(changes[i] as number)) dropped++
          else kept.push(changes[i], changes[i + 1])
        }
        if (kept.length === changes.length) continue
        ops.push({ key })
        if (kept.length > 0) {
          const moved = Buffer.from(key)
          writeU64(moved, kept[0] as number, moved.length - 8)
          ops.push({ key: moved, value: encode(kept) })
        }
      }
      if (ops.length > 0) await storage.write(ops, false)
    }
  } finally {
    await it.close()
  }
  return dropped
}
