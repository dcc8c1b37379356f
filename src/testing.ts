// `annals/testing`: given events, when a decision, then events or a state. Tests of an
// aggregate and the decisions made on it, in memory, with no database: the given events are
// checked and stored-and-read as an append would (data through the codec, missing data null,
// missing metadata {}), and folded as `db.load` folds them (aggregates/fold.ts: what `initial`
// or `evolve` throws, or a promise they return, is ANNALS_AGGREGATE_FAILED).
import { deepStrictEqual } from 'node:assert/strict'
import { checkAggregate, type Aggregate } from './aggregates/define.js'
import { evolve, initial } from './aggregates/fold.js'
import { AnnalsError } from './errors.js'
import type { NewEvent, RecordedEvent } from './log/types.js'
import { checkEvents } from './log/validate.js'
import { UnencodableError, decode, encode } from './storage/codec.js'

/** The stream the given events are in, as error messages name it. */
const STREAM = 'given'

/**
 * A test in progress: the events given so far, and the state they fold to.
 *
 * @example
 * ```ts
 * const { state } = given(Account, [{ type: 'Deposited', data: { amount: 10 } }])
 * ```
 */
export interface Given<State> {
  /** The state after the given events, as `db.load` would give it. */
  readonly state: State
  /** The given events as they read back, at revisions and positions 0, 1, ... */
  readonly events: readonly RecordedEvent[]
  /** Asserts that the given events fold to `expected` (deep, strict equality). */
  thenState (expected: State): void
  /**
   * Runs a decision on the state: it returns the events it would append (or throws). Events an
   * append would refuse throw here, `ANNALS_INVALID_EVENT`.
   */
  when (decide: (state: State) => NewEvent | readonly NewEvent[]): When<State>
}

/**
 * The outcome of a decision.
 *
 * @example
 * ```ts
 * given(Account, []).when(state => withdraw(state, 5)).thenThrows(/insufficient/)
 * ```
 */
export interface When<State> {
  /** Asserts the events decided: type, data and metadata (`data` null and `metadata` {} when not given). */
  thenEvents (expected: readonly NewEvent[]): void
  /** Asserts the state after the given events and the decided ones. */
  thenState (expected: State): void
  /** Asserts that the decision threw, and that the error matches `expected` (a RegExp for its message, or an object of fields) if given. */
  thenThrows (expected?: RegExp | Record<string, unknown>): void
}

/**
 * Starts a test of `aggregate`: the stream holds `events`. Assertions throw node's
 * `AssertionError`, so any test runner reports them.
 *
 * @example
 * ```ts
 * import { defineAggregate } from 'annals'
 * import { given } from 'annals/testing'
 *
 * const Account = defineAggregate({ name: 'account', initial: () => ({ balance: 0 }), evolve: (s, e) => ({ balance: s.balance + e.data.amount }) })
 * given(Account, [{ type: 'Deposited', data: { amount: 10 } }])
 *   .when(state => ({ type: 'Deposited', data: { amount: state.balance } }))
 *   .thenState({ balance: 20 })
 * ```
 */
export function given<State> (aggregate: Aggregate<State>, events: readonly NewEvent[]): Given<State> {
  checkAggregate(aggregate)
  const recorded = record(events, 0)
  const fold = (list: readonly RecordedEvent[]): State => list.reduce((s, e) => evolve(aggregate, STREAM, s, e), initial(aggregate, STREAM))
  const state = fold(recorded)
  return {
    state,
    events: recorded,
    thenState: expected => { deepStrictEqual(state, expected) },
    when: decide => {
      let result: NewEvent | readonly NewEvent[] | undefined
      let threw = false
      let error: unknown
      // the decision gets a fold of its own (one that changes its state changes nothing here);
      // a fold that fails is the aggregate's failure, and events that an append would refuse
      // are refused here: neither is the decision throwing
      const before = fold(recorded)
      try {
        result = decide(before)
      } catch (err) {
        threw = true
        error = err
      }
      const decided = threw ? undefined : record(Array.isArray(result) ? result : [result as NewEvent], recorded.length)
      const outcome = (): RecordedEvent[] => {
        if (decided === undefined) throw new Error('The decision threw instead of deciding', { cause: error })
        return decided
      }
      return {
        thenEvents: expected => {
          const shape = (e: { type: string, data?: unknown, metadata?: unknown }): unknown => ({ type: e.type, data: e.data ?? null, metadata: e.metadata ?? {} })
          deepStrictEqual(outcome().map(shape), record(expected, 0).map(shape))
        },
        thenState: expected => {
          deepStrictEqual(fold([...recorded, ...outcome()]), expected)
        },
        thenThrows: expected => {
          if (decided !== undefined) throw new Error(`The decision did not throw; it decided ${JSON.stringify(decided.map(e => e.type))}`)
          if (expected instanceof RegExp) {
            if (!expected.test(String((error as Error)?.message ?? error))) throw new Error(`The decision threw ${String(error)}, which does not match ${String(expected)}`, { cause: error })
          } else if (expected !== undefined) {
            for (const [key, value] of Object.entries(expected)) deepStrictEqual((error as Record<string, unknown>)?.[key], value, `the error's ${key}`)
          }
        }
      }
    }
  }
}

/** The events as an append would store them and a read give them back, from revision `from`. */
function record (events: readonly NewEvent[], from: number): RecordedEvent[] {
  if (events.length === 0) return []
  return checkEvents(events).map((e, i) => ({
    id: e.id ?? `given-${from + i}`,
    stream: STREAM,
    revision: from + i,
    position: from + i,
    type: e.type,
    version: 1,
    data: stored(e.data, i, e.type),
    metadata: e.metadata === undefined ? {} : stored(e.metadata, i, e.type) as Record<string, unknown>,
    time: 0
  }))
}

/** A value as the log stores and reads it; what cannot be stored is ANNALS_INVALID_EVENT, as in an append. */
function stored (value: unknown, index: number, type: string): unknown {
  try {
    return decode(encode(value))
  } catch (err) {
    if (!(err instanceof UnencodableError)) throw err
    throw new AnnalsError('ANNALS_INVALID_EVENT', `Event ${index} (${type}) cannot be stored: ${err.message}`, { cause: err })
  }
}
