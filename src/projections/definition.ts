// Projection definitions: what a user declares, checked and normalised once, and the
// fingerprint of its code, which checkpoints record (see changed.ts for what it decides).
import { createHash } from 'node:crypto'
import type { RecordedEvent } from '../log/types.js'
import { checkKeys, checkStreams, checkTypes } from '../log/validate.js'

/**
 * What a handler may do to its view while it handles one event. Writes are buffered and go to
 * the database with the event's checkpoint (async) or with the append itself (inline); a read
 * sees the writes made before it, in this event and in earlier ones.
 *
 * @example
 * ```ts
 * async handle (event, view) {
 *   const count = await view.get(event.stream) ?? 0
 *   view.put(event.stream, count + 1)
 * }
 * ```
 */
export interface ViewWriter<Doc = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The document at `key`, or undefined when there is none. */
  get (key: string): Promise<Doc | undefined>
  /** Sets the document at `key` (any value MessagePack carries; not undefined). */
  put (key: string, doc: Doc): void
  /** Removes the document at `key`, if any. */
  del (key: string): void
}

/**
 * Handles one event: reads and writes the view. Throwing (or rejecting) fails the event: an
 * inline projection fails the append, an async one stops at that event.
 *
 * @example
 * ```ts
 * const handle: ProjectionHandler<number> = async (event, view) => {
 *   view.put(event.data.photoId, event.data.size)
 * }
 * ```
 */
export type ProjectionHandler<Doc = any> = (event: RecordedEvent, view: ViewWriter<Doc>) => unknown // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * `'inline'`: the view's writes go in the batch of the append that caused them. `'async'`: a
 * background runner follows the log.
 *
 * @example
 * ```ts
 * const mode: ProjectionMode = 'inline'
 * ```
 */
export type ProjectionMode = 'inline' | 'async'

/**
 * What {@link defineProjection} takes.
 *
 * @example
 * ```ts
 * const options: ProjectionOptions<number> = {
 *   name: 'photos-per-user',
 *   types: ['PhotoAdded'],
 *   async handle (event, view) { view.put(event.stream, (await view.get(event.stream) ?? 0) + 1) }
 * }
 * ```
 */
export interface ProjectionOptions<Doc = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Names the view in the database; 1 to 256 UTF-8 bytes. */
  name: string
  /**
   * A positive integer; a new version rebuilds the view. Default 1. Bump it whenever what the
   * handler does changes: an edited handler under the same version keeps the view (with a
   * warning, `ANNALS_PROJECTION_CHANGED`).
   */
  version?: number
  /** Default `'async'`. */
  mode?: ProjectionMode
  /** Only events of these types are handled. Default: all. */
  types?: readonly string[]
  /** Only events of streams whose name starts with `prefix` (a category) are handled. Default: all. */
  streams?: { prefix: string }
  /** Keep the history of the view's changes, for `at`. Default true; changing it rebuilds the view. */
  history?: boolean
  handle: ProjectionHandler<Doc>
}

/**
 * A checked projection definition, made by {@link defineProjection}.
 *
 * @example
 * ```ts
 * const Totals: ProjectionDefinition<number> = defineProjection({ name: 'totals', handle: (e, view) => view.put('n', 1) })
 * ```
 */
export interface ProjectionDefinition<Doc = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly name: string
  readonly version: number
  readonly mode: ProjectionMode
  readonly types: readonly string[] | undefined
  readonly streams: { readonly prefix: string } | undefined
  readonly history: boolean
  readonly handle: ProjectionHandler<Doc>
  /**
   * A hash of the handler's source text, `types`, version and history. Checkpoints record it;
   * a stored view of the same version and another fingerprint is kept, with a warning.
   */
  readonly fingerprint: string
}

const MAX_NAME_BYTES = 256
// the options, and `fingerprint`: `project` takes a definition again, and a definition spread
// into a new one (`{ ...Totals, version: 2 }`) brings its fingerprint along (computed again)
const KNOWN = ['name', 'version', 'mode', 'types', 'streams', 'history', 'handle', 'fingerprint']

/**
 * Defines a projection: a named view computed from the log's events by `handle`. Register it
 * with `db.project`.
 *
 * @example
 * ```ts
 * import { defineProjection } from 'annals'
 *
 * const StorageUsed = defineProjection<number>({
 *   name: 'storage-used',
 *   version: 1,
 *   mode: 'inline',
 *   types: ['PhotoAdded'],
 *   async handle (event, view) {
 *     const used = await view.get(event.stream) ?? 0
 *     view.put(event.stream, used + event.data.size)
 *   }
 * })
 * ```
 */
export function defineProjection<Doc = any> (options: ProjectionOptions<Doc>): ProjectionDefinition<Doc> { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (typeof options !== 'object' || options === null) throw new TypeError('defineProjection takes an object')
  checkKeys(options, 'defineProjection', KNOWN)
  const { name, version = 1, mode = 'async', types, streams, history = true, handle } = options
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new TypeError(`A projection's name must be a string of 1 to ${MAX_NAME_BYTES} UTF-8 bytes`)
  }
  if (!Number.isSafeInteger(version) || version < 1) throw new TypeError('version must be a positive integer')
  if (mode !== 'inline' && mode !== 'async') throw new TypeError("mode must be 'inline' or 'async'")
  checkTypes(types)
  checkStreams(streams)
  if (typeof history !== 'boolean') throw new TypeError('history must be a boolean')
  if (typeof handle !== 'function') throw new TypeError('handle must be a function')
  const sortedTypes = types === undefined ? undefined : Object.freeze([...new Set(types)].sort())
  // the handler's source text stands for what it does, as far as annals can tell: a stored view
  // of the same version written by another one is kept, with a warning (changed.ts)
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([version, handle.toString(), sortedTypes ?? null, history, ...(streams === undefined ? [] : [streams.prefix])]))
    .digest('base64url')
    .slice(0, 22)
  const category = streams === undefined ? undefined : Object.freeze({ prefix: streams.prefix })
  return Object.freeze({ name, version, mode, types: sortedTypes, streams: category, history, handle, fingerprint })
}

/** Accepts what {@link defineProjection} made, or options it can make one from; checks again either way. */
export function checkDefinition (definition: unknown): ProjectionDefinition {
  if (typeof definition !== 'object' || definition === null) throw new TypeError('project takes a projection definition')
  return defineProjection(definition as ProjectionOptions)
}
