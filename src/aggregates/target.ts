// The `at` of a load: which point of a stream's history to give the state at. Checked and
// normalised here; misuse of its types is a TypeError, as everywhere in annals.
import { checkKeys, checkOptions } from '../log/validate.js'

/**
 * Where in a stream's history {@link LoadOptions.at} points: after revision `revision` of the
 * stream; after every event of the stream at or before global position `position`; or after
 * every event committed at or before `time` (a `Date`, or ms since the epoch).
 *
 * @example
 * ```ts
 * const at: LoadTarget = { time: new Date('2026-01-01T00:00:00Z') }
 * const { state } = await db.load(Album, 'user-7', { at })
 * ```
 */
export type LoadTarget = { revision: number } | { position: number } | { time: Date | number }

/**
 * Options of `db.load`.
 *
 * @example
 * ```ts
 * const options: LoadOptions = { at: { revision: 10 } }
 * const { state, revision } = await db.load(Account, 'account-1', options)
 * ```
 */
export interface LoadOptions {
  /** The point of the stream's history to load; default: now. */
  at?: LoadTarget
}

/**
 * What `db.load` resolves with: the state, and the revision and position of the last event
 * folded into it (-1 and -1 when none was: the initial state).
 *
 * @example
 * ```ts
 * const { state, revision, position }: Loaded<{ balance: number }> = await db.load(Account, 'account-1')
 * await db.append('account-1', { type: 'Withdrawn', data: { amount: 5 } }, { expectedRevision: revision })
 * ```
 */
export interface Loaded<State> {
  state: State
  revision: number
  position: number
}

/** A checked target: undefined for now; times in ms. */
export type Target = { revision: number } | { position: number } | { time: number } | undefined

/** Checks the options of `load` and returns its target. */
export function checkLoadOptions (options: unknown): Target {
  const at = checkOptions<LoadOptions>(options, 'load', ['at']).at
  if (at === undefined) return undefined
  if (typeof at !== 'object' || at === null) throw new TypeError('at must be one of { revision }, { position } or { time }')
  checkKeys(at, 'at', ['revision', 'position', 'time'])
  if (Object.keys(at).length !== 1) throw new TypeError('at must be one of { revision }, { position } or { time }')
  if ('revision' in at) return { revision: checkPoint(at.revision, 'at.revision') }
  if ('position' in at) return { position: checkPoint(at.position, 'at.position') }
  const time = at.time instanceof Date ? at.time.getTime() : at.time
  if (typeof time !== 'number' || !Number.isFinite(time)) throw new TypeError('at.time must be a valid Date or a finite number of ms since the epoch')
  return { time }
}

/** A revision or position: an integer from -1 (before the first event), or Infinity (the end). */
function checkPoint (value: unknown, name: string): number {
  if (typeof value !== 'number' || !(Number.isSafeInteger(value) || value === Infinity) || value < -1) {
    throw new TypeError(`${name} must be an integer >= -1`)
  }
  return value
}
