/**
 * The stable error codes of annals. A code never changes meaning between versions; messages may.
 *
 * @example
 * ```ts
 * import { AnnalsError } from 'annals'
 * try {
 *   await db.append('account-1', { type: 'Deposited', data: { amount: 5 } }, { expectedRevision: 3 })
 * } catch (err) {
 *   if (err instanceof AnnalsError && err.code === 'ANNALS_WRONG_EXPECTED_REVISION') {
 *     // reload the stream and decide again
 *   }
 * }
 * ```
 */
export type AnnalsErrorCode =
  /**
   * A stream's current revision is not the one the append expected. Nothing was written. The
   * error's `stream`, `expected` and `actual` say which stream, what was expected, what it is.
   */
  | 'ANNALS_WRONG_EXPECTED_REVISION'
  /** The stream was tombstoned (`tombstoneStream`): it can never be written again. Nothing was written. */
  | 'ANNALS_STREAM_DELETED'
  /**
   * An event matching the append's condition is past its `after`: the decision the append
   * records was made on a state that has changed since. Nothing was written; the error's
   * `position` is the first such event.
   */
  | 'ANNALS_APPEND_CONDITION_FAILED'
  /** The database is closed (or was never opened). */
  | 'ANNALS_NOT_OPEN'
  /** The database is in use by another process, or by another `open` in this one. */
  | 'ANNALS_LOCKED'
  /** An event (or stream name) is malformed: empty or over-long names, unencodable data. */
  | 'ANNALS_INVALID_EVENT'
  /** An event's encoded record is larger than `maxEventSize`. */
  | 'ANNALS_EVENT_TOO_LARGE'
  /** An event id is already stored with other content, or only part of an append was stored. */
  | 'ANNALS_DUPLICATE_ID'
  /** Stored bytes do not decode, or the log and its indexes disagree. */
  | 'ANNALS_CORRUPT'
  /**
   * The folder (or abstract-level database) holds something that is not an annals database: a
   * regular file, files of another program, or another program's LevelDB. Nothing was changed.
   */
  | 'ANNALS_NOT_A_DATABASE'
  /** The database was written by a newer, incompatible version of annals. */
  | 'ANNALS_UNSUPPORTED_FORMAT'
  /** A durable subscription with that name is already running in this database. */
  | 'ANNALS_ALREADY_SUBSCRIBED'
  /** The storage underneath failed (disk full, I/O error); the `cause` says how. */
  | 'ANNALS_STORAGE'
  /** The master key is wrong, missing, or given to a database whose keys were stored without one. */
  | 'ANNALS_WRONG_KEY'
  /** Personal data needs a key store, and a database opened on a given `level` has no folder for one. */
  | 'ANNALS_NO_KEY_STORE'
  /** A sealed personal field was read, compared or turned into a string where it is sealed. */
  | 'ANNALS_SEALED'
  /**
   * A personal-data declaration names another subject for its event type than the one the
   * database stores for it (declarations are stored, and merge: new fields widen them, but the
   * subject of a type never changes). Nothing was declared; `open` fails when the declaration
   * was one of its options.
   *
   * @example
   * ```ts
   * db.definePersonalData('UserRegistered', { subject: 'userId', fields: ['email'] })
   * db.definePersonalData('UserRegistered', { subject: 'accountId', fields: ['email'] }) // throws ANNALS_DECLARATION_CONFLICT
   * ```
   */
  | 'ANNALS_DECLARATION_CONFLICT'
  /**
   * An event of a type whose stored personal-data declaration has a function as its subject was
   * appended (or imported) by a process that did not declare that function: its personal fields
   * cannot be sealed, so nothing of it was written.
   *
   * @example
   * ```ts
   * // another process declared { subject: data => `customer-${data.customer.id}`, fields: ['shipTo'] }
   * await db.append('order-1', { type: 'OrderShipped', data }) // rejects with ANNALS_SUBJECT_UNDECLARED
   * ```
   */
  | 'ANNALS_SUBJECT_UNDECLARED'
  /**
   * An append of a subject's personal data ran into a shred of that subject: the key it was to
   * be sealed with was erased before it was sealed. Nothing of the append was written; appending
   * again seals it under a new key.
   *
   * @example
   * ```ts
   * const [appended] = await Promise.allSettled([db.append('user-7', registered), db.shred('user-7')])
   * // appended is fulfilled, or rejected with ANNALS_SUBJECT_SHREDDED
   * ```
   */
  | 'ANNALS_SUBJECT_SHREDDED'
  /**
   * An aggregate's `initial` or `evolve` threw (the `cause` is what it threw) or returned a
   * promise, while loading a stream. The message names the stream and revision.
   */
  | 'ANNALS_AGGREGATE_FAILED'
  /**
   * A projection's handler threw on an event; the `cause` is its error. An inline projection's
   * append failed and wrote nothing; an async projection stopped at that event.
   */
  | 'ANNALS_PROJECTION_FAILED'
  /** A projection of that name is already registered in this database, with another definition. */
  | 'ANNALS_ALREADY_PROJECTED'
  /** `at` on a projection that keeps no history (`history: false`). */
  | 'ANNALS_HISTORY_UNAVAILABLE'
  /**
   * `append` was called from an inline projection's handler, which runs inside the writer: the
   * append would wait for the batch the handler is part of, for ever. Refused at once; nothing
   * was written. React to events with a subscription instead.
   */
  | 'ANNALS_REENTRANT_APPEND'
  /**
   * `close()` stopped waiting for a projection handler that had not settled within its
   * `handlerTimeout`. What waited for that handler failed with this code: an append waiting for
   * an inline handler wrote nothing; an async projection resumes at its checkpoint next time.
   */
  | 'ANNALS_HANDLER_ABANDONED'
  /**
   * On PostgreSQL: this process runs inline projections, and another process has run inline
   * projections on the same database since this one opened it. Each process applies an inline
   * projection from what it knew when it registered it, so two of them would apply some events
   * twice: the appends of this process are refused (nothing written) while it runs inline
   * projections. Run inline projections in one process, or make them async; a process opened
   * after the other stopped appending takes them over (see docs/postgres.md).
   *
   * @example
   * ```ts
   * // another process appended with the inline projection 'balances' since this one opened
   * await db.append('account-1', deposited) // rejects with ANNALS_INLINE_ELSEWHERE
   * ```
   */
  | 'ANNALS_INLINE_ELSEWHERE'
  /**
   * An event stored at an older version of its type could not be read at the current one: an
   * upcast step threw (the `cause` is what it threw), returned something else than
   * `{ type, data, metadata }`, or renamed the event into a type declared at a lower version
   * than the event had reached. The read fails; the error's `position` is the event's, `type`
   * and `version` those of the step that failed.
   *
   * @example
   * ```ts
   * const db = await open('./data', { events: { PhotoAdded: { version: 2, upcast: { 1: () => { throw new Error('no') } } } } })
   * await db.readAll().toArray() // rejects with ANNALS_UPCAST_FAILED if a version-1 PhotoAdded is stored
   * ```
   */
  | 'ANNALS_UPCAST_FAILED'
  /**
   * A process was refused access to a database another process holds open: it may not read the
   * owner file in the database folder (a process of another user), or the token it presented
   * is not the owner's. Nothing was read or written.
   *
   * @example
   * ```ts
   * // run as another user than the application that holds ./data
   * await open('./data') // rejects with ANNALS_ACCESS_DENIED
   * ```
   */
  | 'ANNALS_ACCESS_DENIED'
  /**
   * A client process lost the process that owns the database, and neither reached a new owner
   * nor became one in time (`failoverTimeout`); or a write to the key spaces was on its way when
   * the owner went away, so whether it was made is unknown. Appends are never failed so: they
   * are sent again to the new owner (idempotent by id).
   *
   * @example
   * ```ts
   * await db.shred('user-7').catch(err => { if (err.code === 'ANNALS_OWNER_LOST') return db.shred('user-7') })
   * ```
   */
  | 'ANNALS_OWNER_LOST'
  /**
   * An inline projection was registered in a client process, and the process that owns the
   * database does not run it (the same name and version): inline projections run in the
   * owner's writer, in the batch of each append, so only the owner can run them. Register it
   * in the owner too (then clients read its view), or make it `async`.
   *
   * @example
   * ```ts
   * const db = await open('./data')  // db.role === 'client'
   * await db.project(InlineBalances)  // rejects with ANNALS_INLINE_UNAVAILABLE unless the owner runs it
   * ```
   */
  | 'ANNALS_INLINE_UNAVAILABLE'

/**
 * Facts an error carries as properties, by code (see {@link AnnalsError}).
 *
 * @example
 * ```ts
 * new AnnalsError('ANNALS_WRONG_EXPECTED_REVISION', 'stale', { details: { stream: 'a', expected: 3, actual: 4 } })
 * ```
 */
export interface AnnalsErrorDetails {
  stream?: string
  expected?: number | 'any' | 'no_stream' | 'stream_exists'
  actual?: number
  position?: number
  type?: string
  version?: number
}

/**
 * The error annals rejects with. Test `code`, never `message`.
 *
 * @example
 * ```ts
 * const err = new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
 * err.code // 'ANNALS_NOT_OPEN'
 * ```
 */
export class AnnalsError extends Error {
  /** A stable code, one of {@link AnnalsErrorCode}. */
  readonly code: AnnalsErrorCode
  /** `ANNALS_WRONG_EXPECTED_REVISION`: the stream whose expectation failed. */
  readonly stream?: string
  /** `ANNALS_WRONG_EXPECTED_REVISION`: what the append expected of the stream. */
  readonly expected?: number | 'any' | 'no_stream' | 'stream_exists'
  /** `ANNALS_WRONG_EXPECTED_REVISION`: the stream's revision (-1: it has no events). */
  readonly actual?: number
  /**
   * `ANNALS_APPEND_CONDITION_FAILED`: the first position of an event matching the condition.
   * `ANNALS_UPCAST_FAILED`: the position of the event that did not upcast.
   */
  readonly position?: number
  /** `ANNALS_UPCAST_FAILED`: the event type whose upcast step failed. */
  readonly type?: string
  /** `ANNALS_UPCAST_FAILED`: the version the failed step was to upcast from. */
  readonly version?: number

  constructor (code: AnnalsErrorCode, message: string, options?: { cause?: unknown, details?: AnnalsErrorDetails }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    if (options?.details !== undefined) Object.assign(this, options.details)
  }

  override get name (): string {
    return 'AnnalsError'
  }
}

/**
 * True when `err` is an {@link AnnalsError}, with that code if one is given.
 *
 * @example
 * ```ts
 * try {
 *   await db.append('s', events, { expectedRevision: 3 })
 * } catch (err) {
 *   if (!isAnnalsError(err, 'ANNALS_WRONG_EXPECTED_REVISION')) throw err
 * }
 * ```
 */
export function isAnnalsError (err: unknown, code?: AnnalsErrorCode): err is AnnalsError {
  return err instanceof AnnalsError && (code === undefined || err.code === code)
}
