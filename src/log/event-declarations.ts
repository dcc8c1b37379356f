// Declarations of event types' schema versions: the current version of a type, and the steps
// that bring an event stored at an older version up to the next (upcasting). What users give
// `open({ events })` and `db.defineEvent`, checked; the steps run in upcast.ts.
import { isWellFormed } from '../storage/exact.js'
import { checkKeys } from './validate.js'

/**
 * An event as an upcast step sees it and returns it: its type, data and metadata. A step may
 * change any of the three (a new `type` renames the event); what it cannot change (id, stream,
 * revision, position, time, tags) it is not given. The objects a step is given are the read's
 * own, held by nothing else: a step may change them in place and return them, the fastest way
 * to add a field (see docs/evolution.md, "Speed").
 *
 * @example
 * ```ts
 * const addTags = (e: EventShape): EventShape => ({ ...e, data: { ...e.data, tags: [] } })
 * const addTagsInPlace = (e: EventShape): EventShape => { e.data.tags = []; return e }
 * ```
 */
export interface EventShape {
  type: string
  data: any // eslint-disable-line @typescript-eslint/no-explicit-any
  metadata: Record<string, unknown>
}

/**
 * One upcast step: an event of one version in, the same event at the next version out.
 * Synchronous, and a function of its argument only: every read runs it again, on objects of the
 * read's own, which it may change in place. A personal field comes in sealed (a `Sealed`
 * value): the step may move, copy or drop it, not read it.
 *
 * @example
 * ```ts
 * const renamed: UpcastStep = e => ({ ...e, type: 'PhotoAdded' })
 * ```
 */
export type UpcastStep = (event: EventShape) => EventShape

/**
 * The schema version of an event type, and the steps from each older version to the next:
 * `upcast[1]` takes a version-1 event to version 2, ..., `upcast[version - 1]` to `version`.
 * Appends record the version their type has; reads bring older events up to it.
 *
 * @example
 * ```ts
 * const PhotoAdded: EventDeclaration = {
 *   version: 3,
 *   upcast: {
 *     1: e => ({ ...e, data: { ...e.data, camera: null } }),
 *     2: e => ({ ...e, data: { ...e.data, tags: [] } })
 *   }
 * }
 * const db = await open('./data', { events: { PhotoAdded } })
 * ```
 */
export interface EventDeclaration {
  /** The current version: a positive integer. Default for undeclared types: 1. */
  version: number
  /** A step for each version from 1 to `version - 1`, by that version. */
  upcast?: Readonly<Record<number, UpcastStep>>
}

/** A declaration, checked: its version and its steps, `steps[v - 1]` from version v. */
export interface Declared {
  readonly version: number
  readonly steps: readonly UpcastStep[]
}

/** Longest event type, in UTF-8 bytes (as appends check it). */
const MAX_TYPE_BYTES = 256

/** Checks the declaration of `type`; a `TypeError` names what is wrong. */
export function checkEventDeclaration (type: unknown, declaration: unknown): Declared {
  if (typeof type !== 'string' || type.length === 0 || Buffer.byteLength(type) > MAX_TYPE_BYTES || !isWellFormed(type)) {
    throw new TypeError(`An event type must be a string of 1 to ${MAX_TYPE_BYTES} UTF-8 bytes`)
  }
  if (typeof declaration !== 'object' || declaration === null || Array.isArray(declaration)) {
    throw new TypeError(`The declaration of '${type}' must be an object { version, upcast }`)
  }
  checkKeys(declaration, `The declaration of '${type}'`, ['version', 'upcast'])
  const { version, upcast } = declaration as { version?: unknown, upcast?: unknown }
  if (!(typeof version === 'number' && Number.isSafeInteger(version) && version >= 1)) {
    throw new TypeError(`The version of '${type}' must be a positive integer`)
  }
  if (upcast === undefined) {
    if (version === 1) return { version, steps: [] }
    throw new TypeError(`'${type}' is at version ${version}: it needs upcast steps for ${versionsBelow(version)}`)
  }
  if (typeof upcast !== 'object' || upcast === null || Array.isArray(upcast)) {
    throw new TypeError(`The upcast of '${type}' must be an object of steps by version ({ 1: e => ..., 2: ... })`)
  }
  for (const key of Object.keys(upcast)) {
    const v = Number(key)
    if (!(String(v) === key && Number.isSafeInteger(v) && v >= 1 && v < version)) {
      throw new TypeError(`The upcast of '${type}' has a step for '${key}': '${type}' is at version ${version}, so its steps are for ${version === 1 ? 'no version' : versionsBelow(version)}`)
    }
  }
  const steps: UpcastStep[] = []
  for (let v = 1; v < version; v++) {
    const step = (upcast as Record<string, unknown>)[String(v)]
    if (typeof step !== 'function') {
      throw new TypeError(`The upcast of '${type}' needs a step for version ${v} (a function from a version-${v} event to version ${v + 1})`)
    }
    steps.push(step as UpcastStep)
  }
  return { version, steps }
}

/** The versions that need steps below `version`, in words. */
function versionsBelow (version: number): string {
  return version === 2 ? 'version 1' : `versions 1 to ${version - 1}`
}

/** Checks the `events` option of `open`: declarations by event type. */
export function checkEventDeclarations (events: unknown): Array<[string, Declared]> {
  if (events === undefined) return []
  if (typeof events !== 'object' || events === null || Array.isArray(events)) {
    throw new TypeError('events must be an object of declarations by event type ({ PhotoAdded: { version, upcast } })')
  }
  return Object.entries(events).map(([type, declaration]) => [type, checkEventDeclaration(type, declaration)])
}
