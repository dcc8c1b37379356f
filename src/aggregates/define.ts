// Aggregate definitions: a name, an initial state and a fold over one stream's events, with
// the settings of their snapshots. A definition also carries a fingerprint of its code, so that
// snapshots made by other code are never used (see snapshot-keys.ts).
import { createHash } from 'node:crypto'
import type { RecordedEvent } from '../log/types.js'
import { checkKeys } from '../log/validate.js'

/** Longest aggregate name, in UTF-8 bytes. */
export const MAX_AGGREGATE_NAME_BYTES = 256

/**
 * What {@link defineAggregate} takes.
 *
 * @example
 * ```ts
 * const options: AggregateOptions<{ balance: number }> = {
 *   name: 'account',
 *   initial: () => ({ balance: 0 }),
 *   evolve: (state, event) => event.type === 'Deposited' ? { balance: state.balance + event.data.amount } : state,
 *   snapshotEvery: 100
 * }
 * const Account = defineAggregate(options)
 * ```
 */
export interface AggregateOptions<State> {
  /** Names the aggregate's snapshots: 1 to 256 UTF-8 bytes, without NUL. */
  name: string
  /** The state before any event: called once per load that starts from scratch. */
  initial: () => State
  /**
   * The state after `event`, from the state before it. Synchronous, and a function of its
   * arguments only: loads fold the same events to the same state, with or without snapshots.
   * It may return a new state or change and return the one it was given.
   */
  evolve: (state: State, event: RecordedEvent) => State
  /**
   * Keep a snapshot of the state every this many revisions of a stream (a positive integer), so
   * that loads fold only the events after the newest one. Default: no snapshots.
   */
  snapshotEvery?: number
  /** Bump it when `evolve` or `initial` change meaning: snapshots of other versions are ignored. Default 1. */
  version?: number
}

/**
 * An aggregate definition, made by {@link defineAggregate}: pass it to `db.load`.
 *
 * @example
 * ```ts
 * const Counter: Aggregate<number> = defineAggregate({ name: 'counter', initial: () => 0, evolve: n => n + 1 })
 * const { state } = await db.load(Counter, 'clicks')
 * ```
 */
export interface Aggregate<State = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly name: string
  readonly initial: () => State
  readonly evolve: (state: State, event: RecordedEvent) => State
  /** undefined when the aggregate keeps no snapshots */
  readonly snapshotEvery: number | undefined
  readonly version: number
  /** Hex digest of the source text of `initial` and `evolve`: snapshots record it. */
  readonly fingerprint: string
}

const defined = new WeakSet<object>()
// the options, and `fingerprint`: a definition spread into a new one (`{ ...Account, version: 2 }`)
// brings its fingerprint along, which is computed again
const KNOWN = ['name', 'initial', 'evolve', 'snapshotEvery', 'version', 'fingerprint']

/**
 * Defines an aggregate: the state of one stream, folded from its events with `evolve`, from
 * `initial()`. With `snapshotEvery`, loads keep snapshots of the state and start from the newest
 * one; snapshots record `version` and a fingerprint of the code of `initial` and `evolve`, and
 * are used only by a definition with both the same. Throws a `TypeError` on malformed options.
 * A definition spread into another (`defineAggregate({ ...Account, version: 2 })`) derives one.
 *
 * @example
 * ```ts
 * import { defineAggregate } from 'annals'
 *
 * const Account = defineAggregate({
 *   name: 'account',
 *   initial: () => ({ balance: 0 }),
 *   evolve: (state, event) => ({ balance: state.balance + event.data.amount }),
 *   snapshotEvery: 100,
 *   version: 1
 * })
 * const { state, revision } = await db.load(Account, 'account-1')
 * ```
 */
export function defineAggregate<State> (options: AggregateOptions<State>): Aggregate<State> {
  if (typeof options !== 'object' || options === null) throw new TypeError('defineAggregate takes an options object')
  checkKeys(options, 'defineAggregate', KNOWN)
  const { name, initial, evolve, snapshotEvery, version } = options
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > MAX_AGGREGATE_NAME_BYTES ||
      name.includes('\u0000') || !(name as unknown as { isWellFormed (): boolean }).isWellFormed()) {
    throw new TypeError(`An aggregate's name must be a string of 1 to ${MAX_AGGREGATE_NAME_BYTES} UTF-8 bytes, without NUL`)
  }
  if (typeof initial !== 'function') throw new TypeError(`Aggregate '${name}': initial must be a function returning the state before any event`)
  if (typeof evolve !== 'function') throw new TypeError(`Aggregate '${name}': evolve must be a function (state, event) => state`)
  if (snapshotEvery !== undefined && !(Number.isSafeInteger(snapshotEvery) && snapshotEvery > 0)) {
    throw new TypeError(`Aggregate '${name}': snapshotEvery must be a positive integer`)
  }
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 0)) {
    throw new TypeError(`Aggregate '${name}': version must be a non-negative integer`)
  }
  const aggregate: Aggregate<State> = Object.freeze({
    name,
    initial,
    evolve,
    snapshotEvery,
    version: version ?? 1,
    fingerprint: fingerprint(initial, evolve)
  })
  defined.add(aggregate)
  return aggregate
}

/** Checks that `value` was made by {@link defineAggregate}. */
export function checkAggregate (value: unknown): Aggregate {
  if (typeof value !== 'object' || value === null || !defined.has(value)) {
    throw new TypeError('Expected an aggregate made by defineAggregate()')
  }
  return value as Aggregate
}

// The source text of both functions: a change to either (even without a new version) gives
// another fingerprint. Code they call is not part of it: that is what `version` is for.
function fingerprint (initial: () => unknown, evolve: (...args: never[]) => unknown): string {
  return createHash('sha256').update(String(initial)).update('\u0000').update(String(evolve)).digest('hex').slice(0, 16)
}
