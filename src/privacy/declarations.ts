// Personal-data declarations: which fields of which event types are personal, and whose.
import { checkKeys } from '../log/validate.js'

/**
 * Which fields of an event type are personal, and who they are about.
 *
 * @example
 * ```ts
 * db.definePersonalData('UserRegistered', { subject: 'userId', fields: ['email', 'name', 'address.street'] })
 * db.definePersonalData('OrderShipped', { subject: data => `customer-${data.customer.id}`, fields: ['shipTo'] })
 * ```
 */
export interface PersonalData {
  /**
   * The data subject: the dotted path of a field holding its id (a string or number), or a
   * function of the event's data returning it. Subject ids are stored as they are, in keys:
   * they must not be personal data themselves (use an opaque id, or a hash).
   */
  subject: string | ((data: any) => string) // eslint-disable-line @typescript-eslint/no-explicit-any
  /**
   * Dotted paths of the personal fields (`'email'`, `'address.street'`). A field's whole value
   * is sealed, whatever it is; a path through an array is not followed.
   */
  fields: readonly string[]
}

/** A function of an event's data giving its subject id. */
export type SubjectFunction = (data: any) => unknown // eslint-disable-line @typescript-eslint/no-explicit-any

/** A declaration as given, checked: the subject's path or function, and the fields' paths. */
export interface CheckedDeclaration {
  type: string
  subject: string | SubjectFunction
  fields: readonly string[]
}

/**
 * A declaration in force: how to find an event's subject (undefined when it is a function this
 * process was not given), and the fields to seal, as segments and as dotted paths.
 */
export interface Declaration {
  subject: SubjectFunction | undefined
  fields: ReadonlyArray<readonly string[]>
  paths: readonly string[]
}

/** Checks a declaration; `TypeError` on misuse. */
export function checkDeclaration (type: unknown, spec: unknown): CheckedDeclaration {
  if (typeof type !== 'string' || type.length === 0) throw new TypeError('definePersonalData needs an event type (a non-empty string)')
  if (typeof spec !== 'object' || spec === null) throw new TypeError('definePersonalData needs { subject, fields }')
  checkKeys(spec, 'definePersonalData', ['subject', 'fields'])
  const { subject, fields } = spec as PersonalData
  if (typeof subject !== 'function' && !(typeof subject === 'string' && subject.length > 0)) {
    throw new TypeError('subject must be a field path or a function of the data')
  }
  if (!Array.isArray(fields) || fields.length === 0 || !fields.every(isPath)) {
    throw new TypeError('fields must be a non-empty array of dotted paths')
  }
  return { type, subject, fields: [...new Set(fields as string[])] }
}

/** Whether `value` is a dotted path: non-empty segments. */
export function isPath (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && !value.split('.').includes('')
}

/**
 * The declaration in force for a subject path (or a function: `subject` null, `read` the
 * function if this process has it) and fields. A field inside another declared field is sealed
 * with it, not on its own.
 */
export function compile (subject: string | null, read: SubjectFunction | undefined, fields: readonly string[]): Declaration {
  const paths = fields.filter(f => !fields.some(g => f.startsWith(`${g}.`)))
  const segments = subject === null ? undefined : subject.split('.')
  return {
    subject: segments === undefined ? read : data => at(data, segments),
    fields: paths.map(f => f.split('.')),
    paths
  }
}

/** The value at `path` inside `data`, following objects only. */
export function at (data: unknown, path: readonly string[]): unknown {
  let value = data
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/**
 * A copy of `data` with the values at some paths replaced: each object on the way to one is
 * copied once, however many of the paths go through it.
 */
export function withValues (data: unknown, changes: ReadonlyArray<[path: readonly string[], value: unknown]>): unknown {
  if (changes.every(([path]) => path.length === 1)) {
    // fields at the top (the usual case): one copy, and no map of copies
    const root = { ...(data as Record<string, unknown>) }
    for (const [path, value] of changes) root[path[0]!] = value
    return root
  }
  const copies = new Map<unknown, Record<string, unknown>>()
  const copy = (o: unknown): Record<string, unknown> => {
    let c = copies.get(o)
    if (c === undefined) copies.set(o, c = { ...(o as Record<string, unknown>) })
    return c
  }
  const root = copy(data)
  for (const [path, value] of changes) {
    let target = root
    for (let i = 0; i < path.length - 1; i++) {
      const next = copy((target[path[i]!]))
      target[path[i]!] = next
      target = next
    }
    target[path.at(-1)!] = value
  }
  return root
}
