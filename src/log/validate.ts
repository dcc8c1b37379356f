// Checks and normalises what callers hand to the log. Wrong types of arguments are TypeErrors
// (a programmer's mistake); malformed events are ANNALS_INVALID_EVENT (bad data), so callers can
// tell the two apart.
import { AnnalsError } from '../errors.js'
import type { ExpectedRevision } from './types.js'

/** Longest stream name, in UTF-8 bytes. */
export const MAX_STREAM_BYTES = 1024
/** Longest event type, in UTF-8 bytes. */
export const MAX_TYPE_BYTES = 256
/** Longest event id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 256

/** An event checked and normalised, before the writer gives it a place. */
export interface PendingEvent {
  /** the caller's id; undefined when annals is to generate one */
  id: string | undefined
  type: string
  data: unknown
  metadata: Record<string, unknown> | undefined
}

const EVENT_FIELDS = new Set(['type', 'data', 'metadata', 'id'])

function invalid (message: string): AnnalsError {
  return new AnnalsError('ANNALS_INVALID_EVENT', message)
}

function isWellFormed (s: string): boolean {
  return (s as unknown as { isWellFormed (): boolean }).isWellFormed()
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

/** Checks one event or an array of them and returns them normalised. */
export function checkEvents (input: unknown): PendingEvent[] {
  const list = Array.isArray(input) ? input : [input]
  if (list.length === 0) throw invalid('An append needs at least one event')
  const out: PendingEvent[] = new Array(list.length)
  for (let i = 0; i < list.length; i++) out[i] = checkEvent(list[i], i)
  return out
}

function checkEvent (e: unknown, index: number): PendingEvent {
  const at = `Event ${index}`
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw invalid(`${at} must be an object with a type`)
  for (const key in e) {
    if (!EVENT_FIELDS.has(key)) throw invalid(`${at} has an unknown field '${key}' (events have type, data, metadata, id)`)
  }
  const { type, data, metadata, id } = e as Record<string, unknown>
  if (typeof type !== 'string') throw invalid(`${at} needs a type (a string)`)
  checkName(`${at}'s type`, type, MAX_TYPE_BYTES)
  if (id !== undefined) {
    if (typeof id !== 'string') throw invalid(`${at}'s id must be a string`)
    checkName(`${at}'s id`, id, MAX_ID_BYTES)
  }
  if (metadata !== undefined && !isPlainObject(metadata)) throw invalid(`${at}'s metadata must be a plain object`)
  return {
    id,
    type,
    data: data === undefined ? null : data,
    metadata: metadata as Record<string, unknown> | undefined
  }
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

/** Checks that `options` is undefined or an object. */
export function checkOptions<T extends object> (options: unknown, what: string): Partial<T> {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) throw new TypeError(`The ${what} options must be an object`)
  return options as Partial<T>
}

/** Checks an optional non-negative integer option. */
export function checkCount (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !(Number.isSafeInteger(value) || value === Infinity) || value < 0) {
    throw new TypeError(`${name} must be a non-negative integer`)
  }
  return value
}

/** Checks an optional boolean option. */
export function checkBoolean (value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`)
  return value
}
