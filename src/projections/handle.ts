// What `db.project` returns: reads of the view, its status, waiting for it, rebuilding it, and
// the view as it was at a past position or time. Each method checks its arguments, then
// hands over; promise-returning ones reject, never throw.
import { AnnalsError } from '../errors.js'
import type { Log } from '../log/log.js'
import { checkKeys } from '../log/validate.js'
import type { Storage } from '../storage/storage.js'
import { historyGet, historyQuery } from './history.js'
import { checkKey } from './keys.js'
import type { Projected, ProjectionStatus } from './projected.js'
import type { Projections } from './registry.js'
import { decodeWithExtensions } from '../storage/codec.js'
import { checkBounds, lazyQuery, viewGet, viewQuery, type DocReader, type QueryOptions } from './view.js'

/**
 * Which past view `at` gives: as of a position of the log (inclusive), or a moment (the last
 * event committed at or before it). A position past the end of the log means the end.
 *
 * @example
 * ```ts
 * const before = await photos.at({ position: 41 })
 * const yesterday = await photos.at({ time: Date.now() - 86_400_000 })
 * ```
 */
export type AtOptions = { position: number } | { time: Date | number }

/**
 * A read-only view as it was at `position`: what `at` returns.
 *
 * @example
 * ```ts
 * const then = await photos.at({ position: 100 })
 * console.log(then.position, await then.get('user-7'))
 * for await (const [user, count] of then.query({ limit: 3 })) console.log(user, count)
 * ```
 */
export interface ProjectionView<Doc = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The last position of the log the view reflects; -1 for the view before any event. */
  readonly position: number
  get (key: string): Promise<Doc | undefined>
  query (options?: QueryOptions): AsyncIterableIterator<[string, Doc]>
}

/** What the handle needs from the database. */
export interface HandleContext {
  readonly log: Log
  readonly registry: Projections
  /** Throws when the database is closed. */
  readonly assertOpen: () => void
  /** Opens the sealed personal fields of a document (privacy's openValue). */
  readonly open: <T>(value: T) => Promise<T>
}

/**
 * A registered projection: its view, kept from the log. Get one from `db.project`.
 *
 * @example
 * ```ts
 * const photos = await db.project(PhotosPerUser)
 * await photos.caughtUp()
 * console.log(await photos.get('user-7'), photos.status().state)
 * ```
 */
export class Projection<Doc = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly #p: Projected
  readonly #context: HandleContext
  /** documents as readers see them: personal fields opened, or null once shredded */
  readonly #read: DocReader

  /** @internal Use `db.project`. */
  constructor (projected: Projected, context: HandleContext) {
    this.#p = projected
    this.#context = context
    this.#read = bytes => {
      const [doc, sealed] = decodeWithExtensions(bytes)
      return sealed ? context.open(doc) : doc
    }
  }

  /**
   * The projection's name.
   *
   * @example
   * ```ts
   * console.log(`${photos.name}: ${photos.status().state}`)
   * ```
   */
  get name (): string {
    return this.#p.name
  }

  /**
   * The document at `key`, or undefined.
   *
   * @example
   * ```ts
   * const count = await photos.get('user-7') ?? 0
   * ```
   */
  async get (key: string): Promise<Doc | undefined> {
    this.#context.assertOpen()
    checkKey(key)
    const active = this.#p.active
    return active === undefined ? undefined : await viewGet(this.#storage, active.record.gen, key, this.#read) as Doc | undefined
  }

  /**
   * Documents by key, in the order of the keys' UTF-8 bytes (or reverse), within bounds.
   *
   * @example
   * ```ts
   * for await (const [user, count] of photos.query({ gte: 'user-', lt: 'user.', limit: 10 })) console.log(user, count)
   * ```
   */
  query (options?: QueryOptions): AsyncIterableIterator<[string, Doc]> {
    return lazyQuery(() => {
      this.#context.assertOpen()
      const bounds = checkBounds(options)
      const active = this.#p.active
      return viewQuery(this.#storage, active === undefined ? -1 : active.record.gen, bounds, this.#read) as AsyncGenerator<[string, Doc]>
    })
  }

  /**
   * Resolves once the view has handled every event appended before the call (during a rebuild:
   * once the rebuilt view has, and is swapped in). Rejects if the projection fails.
   *
   * @example
   * ```ts
   * await db.append('user-7', { type: 'PhotoAdded', data: { photoId: 'p9' } })
   * await photos.caughtUp()
   * ```
   */
  async caughtUp (): Promise<void> {
    this.#context.assertOpen()
    await this.#p.caughtUp()
  }

  /**
   * Where the projection stands: position, lag, state and, when failed, the error.
   *
   * @example
   * ```ts
   * const { state, lag } = photos.status()
   * ```
   */
  status (): ProjectionStatus {
    return this.#p.status()
  }

  /**
   * Rebuilds the view from the start of the log in a new key space; the current view serves
   * reads until the new one has caught up and is swapped in. Restarts a failed projection.
   * Resolves once swapped in.
   *
   * @example
   * ```ts
   * if (photos.status().state === 'failed') await photos.rebuild()
   * ```
   */
  async rebuild (): Promise<void> {
    this.#context.assertOpen()
    await this.#context.registry.rebuild(this.#p)
  }

  /**
   * The view as it was at a past position or moment, read-only. Needs the projection's history
   * (on by default); without it, `ANNALS_HISTORY_UNAVAILABLE`.
   *
   * @example
   * ```ts
   * const then = await photos.at({ position: 1000 })
   * console.log(await then.get('user-7'))
   * ```
   */
  async at (options: AtOptions): Promise<ProjectionView<Doc>> {
    this.#context.assertOpen()
    const when = checkAt(options)
    if (!this.#p.definition.history) {
      throw new AnnalsError('ANNALS_HISTORY_UNAVAILABLE', `The projection '${this.name}' keeps no history (history: false)`)
    }
    const log = this.#context.log
    const position = when.position !== undefined ? Math.min(when.position, log.head.position) : await log.positionAt(when.time)
    const gen = await this.#historyThrough(position)
    // each read uses the generation serving then: one retired meanwhile is deleted behind
    const current = async (): Promise<number> => {
      this.#context.assertOpen()
      return this.#p.active?.record.gen === gen ? gen : await this.#historyThrough(position)
    }
    return {
      position,
      get: async key => {
        checkKey(key)
        return await historyGet(this.#storage, await current(), key, position, this.#read) as Doc | undefined
      },
      query: options => lazyQuery(async () => {
        const bounds = checkBounds(options)
        return historyQuery(this.#storage, await current(), bounds, position, this.#read) as AsyncGenerator<[string, Doc]>
      })
    }
  }

  get #storage (): Storage {
    return this.#context.log.storage
  }

  /** The generation whose history covers `position`, once there is one. */
  async #historyThrough (position: number): Promise<number> {
    const p = this.#p
    await p.waitFor(() => p.active !== undefined && p.active.record.history && p.active.record.next > position)
    return p.active!.record.gen
  }
}

function checkAt (options: unknown): { position: number, time?: undefined } | { position?: undefined, time: number } {
  if (typeof options !== 'object' || options === null) throw new TypeError('at takes { position } or { time }')
  checkKeys(options, 'at', ['position', 'time'])
  const { position, time } = options as { position?: unknown, time?: unknown }
  if ((position === undefined) === (time === undefined)) throw new TypeError('at takes { position } or { time }, one of them')
  if (position !== undefined) {
    if (!Number.isSafeInteger(position) || (position as number) < 0) throw new TypeError('position must be a non-negative integer')
    return { position: position as number }
  }
  const ms = time instanceof Date ? time.getTime() : time
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new TypeError('time must be a Date or a number of ms since the epoch')
  return { time: ms }
}
