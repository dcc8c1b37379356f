// Folding a stream step by step with an aggregate's `evolve`, keeping what each event changed:
// the engine of `annals replay`. Memory holds the state and a chunk of events; stepping back
// folds again from the start (a stream is read in chunks, so even a long one is quick).
import type { EventChunks } from '../log/reader.js'
import type { RecordedEvent } from '../log/types.js'
import type { Annals } from '../store/annals.js'
import { internalsOf, type Internals } from '../store/internals.js'
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
  /** the state after the event, personal fields opened (as evolve returned it, when not shown) */
  state: unknown
  changes: Change[]
}

/**
 * A stream folded one event at a time, from its first revision, as `db.load` folds it: `evolve`
 * gets the events as records hold them (personal fields sealed), and what is shown (events,
 * states, changes) has them opened.
 */
export class Stepper {
  readonly #log: Internals['log']
  readonly #privacy: Internals['privacy']
  readonly #stream: string
  readonly #fold: Fold
  readonly #to: number | undefined
  #chunks: EventChunks | undefined
  #buffer: RecordedEvent[] = []
  #next = 0
  #state: unknown
  /** the state after the last event, opened and made plain; undefined until needed */
  #shown: unknown
  #revision = -1
  #ended = false

  constructor (db: Annals, stream: string, fold: Fold, to?: number) {
    const { log, privacy } = internalsOf(db)
    this.#log = log
    this.#privacy = privacy
    this.#stream = stream
    this.#fold = fold
    this.#to = to
    this.#state = this.#initial()
  }

  /** The state after the last event folded (the initial state before any), opened. */
  async state (): Promise<unknown> {
    return await this.#privacy.openValue(this.#state)
  }

  /** The revision of the last event folded; -1 before any. */
  get revision (): number {
    return this.#revision
  }

  /** Folds the next event; undefined at the end of the stream (or past `to`). */
  async next (show = true): Promise<Step | undefined> {
    const stored = this.#ended ? undefined : await this.#read()
    if (stored === undefined) {
      this.#ended = true
      return undefined
    }
    const before = show ? this.#shown ?? plain(await this.state()) : undefined
    try {
      this.#state = this.#fold.evolve(this.#state, stored)
    } catch (err) {
      throw new CliError(`evolve of ${this.#fold.name ?? 'the aggregate'} threw at revision ${stored.revision} (position ${stored.position}, ${stored.type}): ${(err as Error)?.message ?? String(err)}`, ExitCode.userCode, { cause: err })
    }
    this.#revision = stored.revision
    this.#shown = undefined
    if (!show) return { event: stored, state: this.#state, changes: [] }
    const [event] = await this.#privacy.open([stored])
    const state = await this.state()
    this.#shown = plain(state)
    return { event: event!, state, changes: changes(before, this.#shown) }
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
    await this.#chunks?.close()
    this.#chunks = undefined
    this.#buffer = []
    this.#next = 0
  }

  /** The next event of the stream, as stored. */
  async #read (): Promise<RecordedEvent | undefined> {
    if (this.#next === this.#buffer.length) {
      this.#chunks ??= this.#log.streamChunks(this.#stream, { from: this.#revision + 1, to: this.#to, backwards: false, limit: Infinity }, true)
      this.#buffer = await this.#chunks.next()
      this.#next = 0
      if (this.#buffer.length === 0) return undefined
    }
    return this.#buffer[this.#next++]
  }

  async #restart (): Promise<void> {
    await this.close()
    this.#state = this.#initial()
    this.#shown = undefined
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
