// Reading a view: one document by key, or a range of keys in the order of their UTF-8 bytes,
// from the documents of one generation (the present) or from its history (a past position).
import { checkOptions } from '../log/validate.js'
import { decode } from '../storage/codec.js'
import type { Storage } from '../storage/storage.js'
import { prefixRange } from '../storage/keys.js'
import { checkKey, viewKey, viewKeyName, viewPrefix } from './keys.js'

/**
 * Bounds of a view query: keys compared by their UTF-8 bytes; `limit` counts documents returned.
 *
 * @example
 * ```ts
 * for await (const [user, count] of photos.query({ gte: 'user-1', lt: 'user-2', limit: 10, reverse: true })) {
 *   console.log(user, count)
 * }
 * ```
 */
export interface QueryOptions {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  limit?: number
  reverse?: boolean
}

/** Checked query bounds. */
export interface KeyBounds {
  gt: string | undefined
  gte: string | undefined
  lt: string | undefined
  lte: string | undefined
  limit: number
  reverse: boolean
}

/** Checks and normalises query options; TypeError on misuse. */
export function checkBounds (options: unknown): KeyBounds {
  const o = checkOptions<QueryOptions>(options, 'query', ['gt', 'gte', 'lt', 'lte', 'limit', 'reverse'])
  for (const name of ['gt', 'gte', 'lt', 'lte'] as const) if (o[name] !== undefined) checkKey(o[name])
  if (o.gt !== undefined && o.gte !== undefined) throw new TypeError('Give gt or gte, not both')
  if (o.lt !== undefined && o.lte !== undefined) throw new TypeError('Give lt or lte, not both')
  if (o.limit !== undefined && !(o.limit === Infinity || (Number.isSafeInteger(o.limit) && o.limit >= 0))) {
    throw new TypeError('limit must be a non-negative integer')
  }
  if (o.reverse !== undefined && typeof o.reverse !== 'boolean') throw new TypeError('reverse must be a boolean')
  return { gt: o.gt, gte: o.gte, lt: o.lt, lte: o.lte, limit: o.limit ?? Infinity, reverse: o.reverse ?? false }
}

/**
 * Turns a stored document into what readers see: decoded, and for readers outside handlers,
 * with its sealed personal fields opened (see privacy/sealed.ts).
 */
export type DocReader = (bytes: Buffer) => unknown

/** Decodes a document as handlers see it: personal fields sealed. */
export const storedDoc: DocReader = bytes => decode(bytes)

/** The document at `key` in generation `gen`, or undefined. */
export async function viewGet (storage: Storage, gen: number, key: string, read: DocReader = storedDoc): Promise<unknown> {
  const value = await storage.get(viewKey(gen, key))
  return value === undefined ? undefined : await read(value)
}

/** Documents of generation `gen` in `bounds`, by key. */
export async function * viewQuery (storage: Storage, gen: number, bounds: KeyBounds, read: DocReader = storedDoc): AsyncGenerator<[string, unknown]> {
  if (bounds.limit === 0) return
  const all = prefixRange(viewPrefix(gen))
  const it = storage.entries({
    ...(bounds.gt !== undefined ? { gt: viewKey(gen, bounds.gt) } : { gte: bounds.gte !== undefined ? viewKey(gen, bounds.gte) : all.gte }),
    ...(bounds.lt !== undefined ? { lt: viewKey(gen, bounds.lt) } : bounds.lte !== undefined ? { lte: viewKey(gen, bounds.lte) } : { lt: all.lt }),
    reverse: bounds.reverse,
    ...(bounds.limit === Infinity ? {} : { limit: bounds.limit })
  })
  try {
    for (let entries = await it.nextv(64); entries.length > 0; entries = await it.nextv(1024)) {
      for (const [key, value] of entries) yield [viewKeyName(key), await read(value)]
    }
  } finally {
    await it.close()
  }
}

/**
 * An async iterable over a query that checks its options and finds its source on the first
 * `next()`, so that every failure surfaces as a rejected `next()`, as reads of the log do.
 */
export function lazyQuery<T> (start: () => Promise<AsyncGenerator<T>> | AsyncGenerator<T>): AsyncIterableIterator<T> {
  let source: AsyncGenerator<T> | undefined
  let done = false
  const iterator: AsyncIterableIterator<T> = {
    async next () {
      if (done) return { value: undefined, done: true }
      try {
        source ??= await start()
        const r = await source.next()
        if (r.done === true) done = true
        return r
      } catch (err) {
        done = true
        await source?.return(undefined)
        throw err
      }
    },
    async return () {
      done = true
      await source?.return(undefined)
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator] () { return iterator }
  }
  return iterator
}
