// What an event changed in a state, as a structural diff (microdiff), one line per change:
//   ~ state.balance: 100 → 70
//   + state.photos["p-1"]: { title: 'Dunes' }
//   - state.photos["p-2"]
import { inspect } from 'node:util'
import diff, { type Difference } from 'microdiff'
import { color } from './output.js'

/**
 * A copy of a state made of plain values, to keep (an `evolve` may change the state it was
 * given in place) and to compare: Maps become objects, Sets arrays; Dates and bytes are copied;
 * instances of other classes are kept as they are.
 */
export function plain (value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (value instanceof Date) return new Date(value.getTime())
  if (value instanceof Uint8Array) return Buffer.from(value)
  if (Array.isArray(value)) return value.map(plain)
  if (value instanceof Set) return [...value].map(plain)
  if (value instanceof Map) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of value) out[String(k)] = plain(v)
    return out
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) out[key] = plain((value as Record<string, unknown>)[key])
  return out
}

/** A change from one state to the next. */
export interface Change {
  op: 'add' | 'remove' | 'set'
  /** from the state's root: `['photos', 'p-1', 'title']` */
  path: Array<string | number>
  from?: unknown
  to?: unknown
}

/** The changes from `before` to `after` (both from {@link plain}). */
export function changes (before: unknown, after: unknown): Change[] {
  // microdiff compares objects: the states go in a box, whose key is dropped from the paths
  const found: Difference[] = diff({ state: before }, { state: after })
  return found.map(d => {
    const path = d.path.slice(1)
    if (d.type === 'CREATE') return { op: 'add', path, to: d.value }
    if (d.type === 'REMOVE') return { op: 'remove', path, from: d.oldValue }
    return { op: 'set', path, from: d.oldValue, to: d.value }
  })
}

/** A path as JavaScript would write it: `state.photos["p-1"].title` (`root` is `state` unless given). */
export function pathText (path: ReadonlyArray<string | number>, root = 'state'): string {
  return root + path.map(p => typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`).join('')
}

function short (value: unknown): string {
  return inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 20, maxStringLength: 200, colors: color.isColorSupported })
}

/** The changes, one line each, for a person. */
export function changeLines (list: readonly Change[]): string[] {
  if (list.length === 0) return [color.dim('(no change to the state)')]
  return list.map(c => {
    if (c.op === 'add') return `${color.green('+')} ${pathText(c.path)}: ${short(c.to)}`
    if (c.op === 'remove') return `${color.red('-')} ${pathText(c.path)} ${color.dim(`(was ${short(c.from)})`)}`
    return `${color.yellow('~')} ${pathText(c.path)}: ${short(c.from)} → ${short(c.to)}`
  })
}
