// Folding a stream step by step with an aggregate's `evolve`, keeping what each event changed:
// the engine of `annals replay`. Memory holds the state and one event; stepping back folds
// again from the start (a stream is read in chunks, so even a long one is quick).
import type { RecordedEvent } from '../log/types.js'
import type { Annals } from '../store/annals.js'
import { CliError, ExitCode } from './errors.js'
import { changes, plain, type Change } from './state-diff.js'

/** What `replay` needs of an aggregate definition: the fields of `defineAggregate`'s. */
export interface Fold {
  name?: string
  initial: () => unknown
  evolve: (state: unknown, event: RecordedEvent) => unknown
}

/** Whether `value` looks like an aggregate definition. */
export function isFold (value: unknown): value is Fold {
  return typeof value === 'object' && value !== null &&
    typeof (value as Fold).initial === 'function' && typeof (value as Fold).evolve === 'function'
}

/** One event folded: the event, the state after it, and what it changed. */
export interface Step {
  event: RecordedEvent
  /** the state after the event, as evolve returned it */
  state: unknown
  changes: Change[]
}

/** A stream folded one event at a time, from its first revision. */
export class Stepper {
  readonly #db: Annals
  readonly #stream: string
  readonly #fold: Fold
  readonly #to: number | undefined
  #events: AsyncIterator<RecordedEvent> | undefined
  #state: unknown
  #revision = -1
  #ended = false

  constructor (db: Annals, stream: string, fold: Fold, to?: number) {
    this.#db = db
    this.#stream = stream
    this.#fold = fold
    this.#to = to
    this.#state = this.#initial()
  }

  /** The state after the last event folded (the initial state before any). */
  get state (): unknown {
    return this.#state
  }

  /** The revision of the last event folded; -1 before any. */
  get revision (): number {
    return this.#revision
  }

  /** Whether the stream (or `to`) was reached. */
  get ended (): boolean {
    return this.#ended
  }

  /** Folds the next event; undefined at the end of the stream (or past `to`). */
  async next (keepChanges = true): Promise<Step | undefined> {
    if (this.#ended) return undefined
    this.#events ??= this.#db.readStream(this.#stream, { from: this.#revision + 1, to: this.#to })[Symbol.asyncIterator]()
    const { value: event, done } = await this.#events.next()
    if (done === true) {
      this.#ended = true
      return undefined
    }
    const before = keepChanges ? plain(this.#state) : undefined
    try {
      this.#state = this.#fold.evolve(this.#state, event)
    } catch (err) {
      throw new CliError(`evolve of ${this.#fold.name ?? 'the aggregate'} threw at revision ${event.revision} (position ${event.position}, ${event.type}): ${(err as Error)?.message ?? String(err)}`, ExitCode.userCode, { cause: err })
    }
    this.#revision = event.revision
    return { event, state: this.#state, changes: keepChanges ? changes(before, plain(this.#state)) : [] }
  }

  /** Folds from the start up to `revision` - 1 silently, then `revision` (undefined past the end). */
  async jump (revision: number): Promise<Step | undefined> {
    if (revision <= this.#revision) await this.#restart()
    while (this.#revision < revision - 1) {
      if (await this.next(false) === undefined) return undefined
    }
    return await this.next()
  }

  async close (): Promise<void> {
    await this.#events?.return?.()
    this.#events = undefined
  }

  async #restart (): Promise<void> {
    await this.close()
    this.#state = this.#initial()
    this.#revision = -1
    this.#ended = false
  }

  #initial (): unknown {
    try {
      return this.#fold.initial()
    } catch (err) {
      throw new CliError(`initial of ${this.#fold.name ?? 'the aggregate'} threw: ${(err as Error)?.message ?? String(err)}`, ExitCode.userCode, { cause: err })
    }
  }
}
