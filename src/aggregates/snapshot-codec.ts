// The value of a snapshot: MessagePack of [format, position, state]. A snapshot is only worth
// keeping if its state comes back exactly as it was folded, or a load from it would answer
// differently from a load from scratch. So every snapshot is decoded again and compared with
// the state, prototypes included (util.isDeepStrictEqual) before it is written: this is how
// class instances (with methods or without), Maps, Sets, typed arrays, functions, symbols and
// cycles are told apart from plain data, by the codec itself rather than by a list of our own.
// A definition whose state fails is reported once, as a process warning, and keeps no
// snapshots in this process from then on; its loads go on, from scratch or from older snapshots.
import { isDeepStrictEqual } from 'node:util'
import { decode, decodeWithExtensions, encode, UnencodableError } from '../storage/codec.js'
import type { Aggregate } from './define.js'

const FORMAT = 1

/** The code of the warning emitted when an aggregate's state cannot be kept as a snapshot. */
export const UNSNAPSHOTTABLE_WARNING = 'ANNALS_STATE_NOT_SNAPSHOTTABLE'

/** A snapshot read back. */
export interface Snapshot {
  revision: number
  position: number
  state: unknown
  /** whether the state holds sealed personal fields */
  sealed: boolean
}

/** Definitions whose state turned out not to survive encoding: they write no more snapshots. */
const unsnapshottable = new WeakSet<Aggregate>()

/** Whether loads of `aggregate` write snapshots. */
export function keepsSnapshots (aggregate: Aggregate): boolean {
  return aggregate.snapshotEvery !== undefined && !unsnapshottable.has(aggregate)
}

/**
 * The bytes of a snapshot of `state`, or undefined when the state would not come back the
 * same; then the aggregate is reported (once) and keeps no more snapshots.
 */
export function encodeSnapshot (aggregate: Aggregate, position: number, state: unknown): Buffer | undefined {
  let bytes: Buffer
  try {
    bytes = encode([FORMAT, position, state])
    if (isDeepStrictEqual((decode(bytes) as unknown[])[2], state)) return bytes
  } catch (err) {
    if (!(err instanceof UnencodableError)) throw err
    report(aggregate, state, err.message)
    return undefined
  }
  report(aggregate, state, 'it would not come back the same from storage')
  return undefined
}

/** A snapshot from its bytes; undefined when they are not one (a snapshot is a cache: it is then not used). */
export function decodeSnapshot (revision: number, bytes: Uint8Array): Snapshot | undefined {
  let value: unknown
  let sealed: boolean
  try {
    [value, sealed] = decodeWithExtensions(bytes)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value.length !== 3 || value[0] !== FORMAT || !Number.isSafeInteger(value[1]) || value[1] < 0) return undefined
  return { revision, position: value[1] as number, state: value[2], sealed }
}

function report (aggregate: Aggregate, state: unknown, fallback: string): void {
  if (unsnapshottable.has(aggregate)) return
  unsnapshottable.add(aggregate)
  const why = firstUnplain(state, 'state', new Set()) ?? fallback
  process.emitWarning(
    `Aggregate '${aggregate.name}' (version ${aggregate.version}) keeps no snapshots in this process: its state cannot be stored as it is, because ${why}. ` +
    'Loads still give the right state, folding more events. For snapshots, keep the state plain data: objects, arrays, strings, numbers, booleans, null, Dates, Buffers.',
    { type: 'AnnalsWarning', code: UNSNAPSHOTTABLE_WARNING })
}

const PLAIN = new Set<unknown>([Object.prototype, Array.prototype, Date.prototype, Buffer.prototype])

/** Names the first part of `value` that is not plain data, for the warning; undefined if none is found. */
function firstUnplain (value: unknown, path: string, ancestors: Set<object>): string | undefined {
  if (typeof value === 'function') return `${path} is a function`
  if (typeof value === 'symbol') return `${path} is a symbol`
  if (typeof value !== 'object' || value === null) return undefined
  if (ancestors.has(value)) return `${path} refers back to an object that contains it (a cycle)`
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto === null) return `${path} is an object without a prototype`
  if (!PLAIN.has(proto)) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name
    return `${path} is an instance of ${name === undefined || name === '' ? 'a class' : name}`
  }
  if (proto !== Object.prototype && proto !== Array.prototype) return undefined // a Date or a Buffer
  if (Object.getOwnPropertySymbols(value).length > 0) return `${path} has symbol keys`
  ancestors.add(value)
  for (const [key, inner] of Object.entries(value)) {
    const at = Array.isArray(value) ? `${path}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`
    const found = firstUnplain(inner, at, ancestors)
    if (found !== undefined) return found
  }
  ancestors.delete(value)
  return undefined
}
