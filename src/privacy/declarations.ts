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

/** A checked declaration. */
export interface Declaration {
  subject: (data: unknown) => unknown
  fields: ReadonlyArray<readonly string[]>
  paths: readonly string[]
}

/** Checks and compiles a declaration; `TypeError` on misuse. */
export function checkDeclaration (type: unknown, spec: unknown): [string, Declaration] {
  if (typeof type !== 'string' || type.length === 0) throw new TypeError('definePersonalData needs an event type (a non-empty string)')
  if (typeof spec !== 'object' || spec === null) throw new TypeError('definePersonalData needs { subject, fields }')
  checkKeys(spec, 'definePersonalData', ['subject', 'fields'])
  const { subject, fields } = spec as PersonalData
  let read: (data: unknown) => unknown
  if (typeof subject === 'function') read = subject
  else if (typeof subject === 'string' && subject.length > 0) {
    const path = subject.split('.')
    read = data => at(data, path)
  } else throw new TypeError('subject must be a field path or a function of the data')
  if (!Array.isArray(fields) || fields.length === 0 || !fields.every(f => typeof f === 'string' && f.length > 0 && !f.split('.').includes(''))) {
    throw new TypeError('fields must be a non-empty array of dotted paths')
  }
  return [type, { subject: read, fields: fields.map(f => f.split('.')), paths: [...fields] }]
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
