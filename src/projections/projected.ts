// A registered projection: which generation serves reads (`active`), which one is being
// rebuilt (`building`), whether it failed, and who waits for it to move on.
import { counted, databaseOf, projectionChannel, type ProjectionMessage } from '../diagnostics/channels.js'
import { AnnalsError } from '../errors.js'
import type { Lock } from '../backend/backend.js'
import type { Log } from '../log/log.js'
import type { ProjectionDefinition } from './definition.js'
import type { Member } from './member.js'

/**
 * Where a projection stands. `position`: the last position handled (by the view being
 * rebuilt, during a rebuild); `lag`: events appended since; `state`: `'live'` whenever `lag` is
 * 0 and it is neither failed nor rebuilding. When failed, `error` is the `ANNALS_PROJECTION_FAILED`
 * error (its `cause`: the handler's) and `failedAt` the position of the event that failed.
 *
 * @example
 * ```ts
 * const { state, lag, error } = photos.status()
 * if (state === 'failed') console.error('photos stopped', error)
 * ```
 */
export interface ProjectionStatus {
  position: number
  lag: number
  state: 'catching-up' | 'live' | 'rebuilding' | 'failed'
  error: AnnalsError | undefined
  failedAt: number | undefined
}

interface Waiter {
  test: () => boolean
  resolve: () => void
  reject: (err: unknown) => void
}

export class Projected {
  readonly definition: ProjectionDefinition
  readonly #log: Log
  active: Member | undefined
  building: Member | undefined
  failure: { error: AnnalsError, position: number } | undefined
  /** the lock this process runs it under, while it does */
  lock: Lock | undefined
  /** run by another process: this one reads its view, and takes over when that one goes away */
  following = false
  #closed: AnnalsError | undefined
  #waiters: Waiter[] = []

  constructor (definition: ProjectionDefinition, log: Log) {
    this.definition = definition
    this.#log = log
  }

  get name (): string {
    return this.definition.name
  }

  status (): ProjectionStatus {
    const m = this.building ?? this.active
    const position = m === undefined ? -1 : m.record.next - 1
    const lag = Math.max(0, this.#log.head.position - position)
    const failure = this.failure
    return {
      position,
      lag,
      state: failure !== undefined ? 'failed' : this.building !== undefined ? 'rebuilding' : lag === 0 ? 'live' : 'catching-up',
      error: failure?.error,
      failedAt: failure?.position
    }
  }

  /** Resolves once the active view has handled everything committed now, with no rebuild under way. */
  async caughtUp (): Promise<void> {
    const target = this.#log.head.position
    await this.waitFor(() => this.building === undefined && this.active !== undefined && this.active.record.next > target)
  }

  /** Resolves once `test` holds; rejects if the projection fails or closes first. */
  async waitFor (test: () => boolean): Promise<void> {
    if (test()) return
    if (this.failure !== undefined) throw this.failure.error
    if (this.#closed !== undefined) throw this.#closed
    await new Promise<void>((resolve, reject) => this.#waiters.push({ test, resolve, reject }))
  }

  /** Something moved on: settles the waiters that can be. */
  notify (): void {
    if (this.#waiters.length === 0) return
    const error = this.failure?.error ?? this.#closed
    this.#waiters = this.#waiters.filter(w => {
      if (w.test()) w.resolve()
      else if (error !== undefined) w.reject(error)
      else return true
      return false
    })
  }

  /**
   * `member` stopped at `position` with `error` (a handler's, wrapped by {@link failedError}, or
   * the storage's): so does this projection, until a rebuild.
   */
  fail (member: Member, position: number, error: AnnalsError): void {
    member.owner = 'stopped'
    if (member === this.active || member === this.building) {
      if (projectionChannel.hasSubscribers) {
        projectionChannel.publish(counted<ProjectionMessage>({
          kind: 'failed', database: databaseOf(this.#log.storage), projection: this.name, position, error, errorCode: error.code
        }))
      }
      this.failure = { error, position }
      this.notify()
    }
  }

  close (): void {
    this.#closed = new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
    this.notify()
  }
}

/**
 * Tells `annals:projection` that `member` wrote a batch that moved it over `events` positions,
 * handled and written since `started` (performance.now()).
 */
export function tellBatch (log: Log, member: Member, events: number, started: number): void {
  if (events <= 0 || !projectionChannel.hasSubscribers) return
  const position = member.record.next - 1
  const definition = member.projected.definition
  projectionChannel.publish(counted<ProjectionMessage>({
    kind: 'batch',
    database: databaseOf(log.storage),
    projection: definition.name,
    mode: definition.mode === 'inline' ? 'inline' : 'async',
    rebuilding: member.building,
    events,
    position,
    lag: Math.max(0, log.head.position - position),
    duration: performance.now() - started
  }))
}

/** The error of a handler that threw on the event at `position`. */
export function failedError (name: string, position: number, cause: unknown): AnnalsError {
  const why = cause instanceof Error ? cause.message : String(cause)
  return new AnnalsError('ANNALS_PROJECTION_FAILED', `Projection '${name}' failed on the event at position ${position}: ${why}`, { cause })
}
