// One step of a fold, as `load` takes it and `annals/testing` too: `initial()` and `evolve()`
// called with their failures turned into ANNALS_AGGREGATE_FAILED, naming the stream and the
// revision, and a promise returned where a state is due refused (they must be synchronous).
import { AnnalsError } from '../errors.js'
import type { RecordedEvent } from '../log/types.js'
import type { Aggregate } from './define.js'

/** `initial()`; what it throws, or a promise it returns, is `ANNALS_AGGREGATE_FAILED`. */
export function initial<State> (aggregate: Aggregate<State>, stream: string): State {
  let state: State
  try {
    state = aggregate.initial()
  } catch (err) {
    throw failed(aggregate, stream, undefined, 'threw', err)
  }
  return synchronous(aggregate, stream, undefined, state)
}

/** `evolve(state, event)`; what it throws, or a promise it returns, is `ANNALS_AGGREGATE_FAILED`. */
export function evolve<State> (aggregate: Aggregate<State>, stream: string, state: State, event: RecordedEvent): State {
  let next: State
  try {
    next = aggregate.evolve(state, event)
  } catch (err) {
    throw failed(aggregate, stream, event, 'threw', err)
  }
  return synchronous(aggregate, stream, event, next)
}

function synchronous<State> (aggregate: Aggregate<State>, stream: string, event: RecordedEvent | undefined, state: State): State {
  if (typeof (state as { then?: unknown } | null | undefined)?.then === 'function') {
    throw failed(aggregate, stream, event, 'returned a promise; it must be synchronous')
  }
  return state
}

function failed (aggregate: { name: string }, stream: string, event: RecordedEvent | undefined, how: string, cause?: unknown): AnnalsError {
  const what = event === undefined ? 'initial()' : `evolve() of revision ${event.revision} (${event.type})`
  return new AnnalsError('ANNALS_AGGREGATE_FAILED', `Aggregate '${aggregate.name}' failed on stream '${stream}': ${what} ${how}`, cause === undefined ? undefined : { cause })
}
