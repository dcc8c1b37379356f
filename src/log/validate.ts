// Checks and normalises what callers hand to the log. Wrong types of arguments are TypeErrors
// (a programmer's mistake); malformed events are ANNALS_INVALID_EVENT (bad data), so callers can
// tell the two apart.
import { AnnalsError } from '../errors.js'
import { UnencodableError } from '../storage/codec.js'
import { inexact, isWellFormed, countedBytes } from '../storage/exact.js'
import type { ExpectedRevision } from './types.js'

/** Longest stream name, in UTF-8 bytes. */
export const MAX_STREAM_BYTES = 1024
/** Longest event type, in UTF-8 bytes. */
export const MAX_TYPE_BYTES = 256
/** Longest event id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 256
/** Most tags on one event. */
export const MAX_TAGS = 64
/** Longest tag, in UTF-8 bytes. */
export const MAX_TAG_BYTES = 256
/** The default largest encoded event, in bytes (the `maxEventSize` option of `open`). */
export const DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024

/** An event checked and normalised, before the writer gives it a place. */
export interface PendingEvent {
  /** the caller's id; undefined when annals is to generate one */
  id: string | undefined
  type: string
  data: unknown
  metadata: Record<string, unknown> | undefined
  /** distinct, in the order given; undefined when none */
  tags: string[] | undefined
}

const EVENT_FIELDS = new Set(['type', 'data', 'metadata', 'id', 'tags'])

function invalid (message: string, cause?: unknown): AnnalsError {
  return new AnnalsError('ANNALS_INVALID_EVENT', message, cause === undefined ? undefined : { cause })
}

function checkName (what: string, value: string, max: number): void {
  if (value.length === 0) throw invalid(`${what} must not be empty`)
  if (Buffer.byteLength(value) > max) throw invalid(`${what} is longer than ${max} UTF-8 bytes`)
  if (!isWellFormed(value)) throw invalid(`${what} is not well-formed Unicode (a lone surrogate)`)
}

/** Checks a stream name: a non-empty string of at most 1024 UTF-8 bytes without NUL. */
export function checkStream (stream: unknown): string {
  if (typeof stream !== 'string') throw new TypeError('The stream name must be a string')
  checkName('The stream name', stream, MAX_STREAM_BYTES)
  if (stream.includes('\u0000')) throw invalid('The stream name must not contain NUL (\\u0000)')
  return stream
}

/**
 * Checks one event or an array of them and returns them normalised. Data and metadata must be
 * values the codec stores exactly (see storage/exact.ts); an event whose data and metadata alone
 * take more than `maxEventSize` bytes encoded is `ANNALS_EVENT_TOO_LARGE` before it is encoded.
 */
export function checkEvents (input: unknown, maxEventSize = DEFAULT_MAX_EVENT_SIZE): PendingEvent[] {
  const list = Array.isArray(input) ? input : [input]
  if (list.length === 0) throw invalid('An append needs at least one event')
  const out: PendingEvent[] = new Array(list.length)
  for (let i = 0; i < list.length; i++) out[i] = checkEvent(list[i], i, maxEventSize)
  return out
}

function checkEvent (e: unknown, index: number, maxEventSize: number): PendingEvent {
  const at = `Event ${index}`
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw invalid(`${at} must be an object with a type`)
  for (const key in e) {
    if (!EVENT_FIELDS.has(key)) throw invalid(`${at} has an unknown field '${key}' (events have type, data, metadata, id, tags)`)
  }
  const { type, data, metadata, id, tags } = e as Record<string, unknown>
  if (typeof type !== 'string') throw invalid(`${at} needs a type (a string)`)
  checkName(`${at}'s type`, type, MAX_TYPE_BYTES)
  if (id !== undefined) {
    if (typeof id !== 'string') throw invalid(`${at}'s id must be a string`)
    checkName(`${at}'s id`, id, MAX_ID_BYTES)
  }
  if (metadata !== undefined && !isPlainObject(metadata)) throw invalid(`${at}'s metadata must be a plain object`)
  checkExact(at, type, 'data', data, maxEventSize, maxEventSize)
  if (metadata !== undefined) checkExact(at, type, 'metadata', metadata, maxEventSize - countedBytes(), maxEventSize)
  return {
    id,
    type,
    data: data === undefined ? null : data,
    metadata: metadata as Record<string, unknown> | undefined,
    tags: checkTags(at, tags)
  }
}

/** An event's tags: up to 64 distinct strings of 1 to 256 UTF-8 bytes without NUL; undefined when none. */
function checkTags (at: string, tags: unknown): string[] | undefined {
  if (tags === undefined) return undefined
  if (!Array.isArray(tags)) throw invalid(`${at}'s tags must be an array of strings`)
  if (tags.length > MAX_TAGS) throw invalid(`${at} has ${tags.length} tags, over ${MAX_TAGS}`)
  const seen = new Set<string>()
  for (const tag of tags) {
    if (typeof tag !== 'string') throw invalid(`${at}'s tags must be strings`)
    checkName(`${at}'s tag`, tag, MAX_TAG_BYTES)
    if (tag.includes('\u0000')) throw invalid(`${at}'s tag must not contain NUL (\\u0000)`)
    seen.add(tag)
  }
  return seen.size === 0 ? undefined : [...seen]
}

/** Checks a query (a list of items of `types` and `tags`); `TypeError` on misuse. */
export function checkQuery (value: unknown, what: string): Array<{ types?: string[], tags?: string[] }> {
  if (!Array.isArray(value)) throw new TypeError(`${what} must be an array of query items ({ types, tags })`)
  return value.map((item: unknown, i) => {
    const o = checkOptions<{ types: string[], tags: string[] }>(item, `${what}[${i}]`, ['types', 'tags'])
    if (typeof item !== 'object' || item === null) throw new TypeError(`${what}[${i}] must be an object ({ types, tags })`)
    const out: { types?: string[], tags?: string[] } = {}
    for (const key of ['types', 'tags'] as const) {
      const list = o[key]
      if (list === undefined) continue
      if (!Array.isArray(list) || !list.every(x => typeof x === 'string' && x.length > 0)) {
        throw new TypeError(`${what}[${i}].${key} must be an array of non-empty strings`)
      }
      out[key] = [...list]
    }
    return out
  })
}

/** Checks an append condition; `TypeError` on misuse. */
export function checkCondition (value: unknown): { failIfEventsMatch: Array<{ types?: string[], tags?: string[] }>, after: number | undefined } | undefined {
  if (value === undefined) return undefined
  const o = checkOptions<{ failIfEventsMatch: unknown, after: number }>(value, 'condition', ['failIfEventsMatch', 'after'])
  if (typeof value !== 'object' || value === null) throw new TypeError('condition must be an object ({ failIfEventsMatch, after })')
  const after = o.after
  if (after !== undefined && !(Number.isSafeInteger(after) && after >= -1)) throw new TypeError('condition.after must be a position (an integer >= -1)')
  return { failIfEventsMatch: checkQuery(o.failIfEventsMatch, 'condition.failIfEventsMatch'), after }
}

/** Refuses a value that would not read back as it is, naming the part at fault. */
function checkExact (at: string, type: string, name: string, value: unknown, budget: number, maxEventSize: number): void {
  const problem = inexact(value, budget)
  if (problem === undefined) return
  const cause = new UnencodableError(problem.reason, { kind: problem.kind })
  if (problem.kind === 'size') {
    throw new AnnalsError('ANNALS_EVENT_TOO_LARGE', `${at} (${type}) takes more than maxEventSize (${maxEventSize} bytes) encoded`, { cause })
  }
  throw invalid(`${at} (${type}) cannot be stored: its ${name}${problem.path} ${problem.reason}`, cause)
}

function isPlainObject (value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Checks `expectedRevision`: an integer >= -1 or one of the three words; default `'any'`. */
export function checkExpected (value: unknown): ExpectedRevision {
  if (value === undefined) return 'any'
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= -1) return value
  } else if (value === 'any' || value === 'no_stream' || value === 'stream_exists') {
    return value
  }
  throw new TypeError("expectedRevision must be an integer >= -1, 'any', 'no_stream' or 'stream_exists'")
}

/**
 * Checks that `options` is undefined or an object whose keys are all in `known`, and returns
 * it (`{}` for undefined). An unknown key is a `TypeError` naming it: a misspelt option
 * (`expectedRevison`) must not be silently ignored.
 */
export function checkOptions<T extends object> (options: unknown, what: string, known: readonly string[]): Partial<T> {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) throw new TypeError(`The ${what} options must be an object`)
  checkKeys(options, what, known)
  return options as Partial<T>
}

/**
 * Throws a `TypeError` naming the first key of `object` not in `known`: every key a
 * destructuring would read, inherited enumerable ones included. Called first by every check of
 * a public options or definition object.
 */
export function checkKeys (object: object, what: string, known: readonly string[]): void {
  for (const key in object) {
    if (!known.includes(key)) throw new TypeError(`${what} has no option '${key}' (it takes ${known.join(', ')})`)
  }
}

/** Checks an optional revision or position: a safe integer >= 0. */
export function checkPoint (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new TypeError(`${name} must be an integer >= 0`)
  return value as number
}

/** Checks an optional count: a non-negative integer, or Infinity. */
export function checkCount (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !(Number.isSafeInteger(value) || value === Infinity) || value < 0) {
    throw new TypeError(`${name} must be a non-negative integer or Infinity`)
  }
  return value
}

/** Checks an optional boolean option. */
export function checkBoolean (value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`)
  return value
}

/** Checks an optional list of event types: an array of strings. */
export function checkTypes (value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || !value.every(t => typeof t === 'string')) throw new TypeError('types must be an array of strings')
  return value
}

/**
 * Checks the `streams` option of reads, subscriptions and projections (a category of streams by
 * prefix) and returns its prefix, or undefined when absent. A prefix must be well-formed
 * Unicode, as stream names are: half a surrogate pair matches no stream name's UTF-8 bytes.
 *
 * @example
 * ```ts
 * checkStreams({ prefix: 'cart-' }) // 'cart-'
 * ```
 */
export function checkStreams (value: unknown): string | undefined {
  if (value === undefined) return undefined
  const o = checkOptions<{ prefix: string }>(value, 'streams', ['prefix'])
  if (typeof o.prefix !== 'string') throw new TypeError('streams must be { prefix: string }')
  if (!isWellFormed(o.prefix)) throw new TypeError('streams.prefix must be well-formed Unicode (no lone surrogate), as stream names are')
  return o.prefix
}
