// Which values the codec stores and reads back exactly. msgpackr, as configured in codec.ts,
// writes some values it cannot read back as they were, without a word: -0 as 0, a Map as an
// object, a Set or a RegExp as an array, an Error as [name, message, cause], a class instance as
// its fields, a key `__proto__` as `__proto_`, a lone surrogate as U+FFFD, a sparse array's holes
// as undefined; and it drops symbol keys. Events must come back as they were appended, so their
// data and metadata are checked here first, in one walk that visits each value once (the
// encoder's own walk has no hook for numbers, strings or Maps, where most of these hide).
//
// Stored exactly: null, undefined (inside objects and arrays), booleans, numbers but -0 (NaN and
// the infinities included), well-formed strings, bigints from -2^63 to 2^64 - 1, Dates (invalid
// ones too), Buffers, plain objects with string keys, dense arrays, and instances of the classes
// registered as codec extensions. Two read back as their closest kin, with the same content: a
// Uint8Array as a Buffer (a Uint8Array too), an object without a prototype (Object.create(null),
// Object.groupBy) as a plain object. Objects and arrays may nest MAX_DEPTH levels deep.

/** How deep data may nest: far below what the encoder and decoder can recurse through. */
export const MAX_DEPTH = 256

/** What is wrong with a value: the kinds a caller may tell apart. */
export type ProblemKind = 'unsupported' | 'depth' | 'cycle' | 'size'

/** A value that would not be stored exactly, found by {@link inexact}. */
export interface Problem {
  kind: ProblemKind
  /** where, from the root: `.items[3]`, `["a b"]`; empty for the root itself */
  path: string
  /** what is wrong, as a sentence part: "is a Set, which reads back as an array: ..." */
  reason: string
}

/** Prototypes of the classes registered as codec extensions: stored as their extension writes them. */
const extensionPrototypes = new Set<object>()

/** Declares instances of `Class` storable (the codec registers an extension for them). */
export function acceptExtensionClass (Class: abstract new (...args: never[]) => unknown): void {
  extensionPrototypes.add(Class.prototype as object)
}

const MIN_INT64 = -(2n ** 63n)
const MAX_UINT64 = 2n ** 64n - 1n

// the walk's state: a walk is synchronous, so one set of these serves every call
/** a lower bound of the encoded size so far: every value takes at least a byte, a string its length */
let bytes = 0
let maxBytes = 0
let kind: ProblemKind = 'unsupported'
/** the path to the problem, innermost first, filled as the walk unwinds */
const segments: Array<string | number> = []

/**
 * What in `value` would not be stored exactly, or undefined when all of it would. `limit`
 * bounds the walk: past that many bytes of encoding (a lower bound), the value is too large.
 */
export function inexact (value: unknown, limit = Infinity): Problem | undefined {
  bytes = 0
  maxBytes = limit
  segments.length = 0
  let reason = walk(value, 0)
  if (reason === undefined) return undefined
  let found = kind
  kind = 'unsupported'
  let path = formatPath(segments.reverse())
  if (found === 'depth') {
    // too deep, or a cycle: told apart only now, so that the walk costs nothing for it
    const cycle = findCycle(value)
    if (cycle !== undefined) {
      found = 'cycle'
      path = formatPath(cycle.from)
      reason = `refers back to ${cycle.to.length === 0 ? 'the whole value' : `the value at ${formatPath(cycle.to)}`}, which contains it (a cycle)`
    }
  }
  return { kind: found, path, reason }
}

/** How many bytes the value takes at least, as {@link inexact} last counted them. */
export function countedBytes (): number {
  return bytes
}

function walk (value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      bytes += 1 + value.length
      return isWellFormed(value) ? undefined : 'is a string with a lone surrogate (not well-formed Unicode), which reads back altered'
    case 'number':
      bytes++
      return Object.is(value, -0) ? 'is -0, which reads back as 0' : undefined
    case 'boolean':
    case 'undefined':
      bytes++
      return undefined
    case 'bigint':
      bytes += 9
      return value >= MIN_INT64 && value <= MAX_UINT64 ? undefined : 'is a bigint beyond 64 bits'
    case 'symbol':
      return 'is a symbol'
    case 'function':
      return 'is a function'
  }
  if (value === null) {
    bytes++
    return undefined
  }
  if (bytes > maxBytes) {
    kind = 'size'
    return `takes more than ${maxBytes} bytes`
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    if (depth === MAX_DEPTH) return tooDeep()
    if (Object.getOwnPropertySymbols(value).length !== 0) return 'has symbol keys, which are not stored'
    bytes++
    const object = value as Record<string, unknown>
    for (const key in object) {
      bytes += 1 + key.length
      const problem = key === '__proto__'
        ? 'is a key __proto__, which reads back as __proto_'
        : isWellFormed(key)
          ? walk(object[key], depth + 1)
          : 'is a key with a lone surrogate (not well-formed Unicode), which reads back altered'
      if (problem !== undefined) {
        segments.push(key)
        return problem
      }
    }
    return undefined
  }
  if (proto === Array.prototype) {
    if (depth === MAX_DEPTH) return tooDeep()
    bytes++
    const array = value as unknown[]
    for (let i = 0; i < array.length; i++) {
      const item = array[i]
      const problem = item === undefined && !(i in array)
        ? 'is a hole of a sparse array, which reads back as undefined'
        : walk(item, depth + 1)
      if (problem !== undefined) {
        segments.push(i)
        return problem
      }
    }
    return undefined
  }
  if (proto === Date.prototype) {
    bytes += 6
    return undefined
  }
  if (proto === Buffer.prototype || proto === Uint8Array.prototype) {
    bytes += 1 + (value as Uint8Array).byteLength
    return undefined
  }
  if (extensionPrototypes.has(proto as object)) {
    bytes++
    return undefined
  }
  return notPlain(value as object, proto)
}

/** Whether a string is well-formed Unicode: no lone surrogate (which UTF-8 cannot carry). */
export function isWellFormed (s: string): boolean {
  return (s as unknown as { isWellFormed (): boolean }).isWellFormed()
}

function tooDeep (): string {
  kind = 'depth'
  return `nests deeper than ${MAX_DEPTH} levels`
}

function notPlain (value: object, proto: unknown): string {
  if (value instanceof Map) return 'is a Map, which reads back as an object: store an object, or an array of [key, value] pairs'
  if (value instanceof Set) return 'is a Set, which reads back as an array: store an array'
  const constructor = (proto as { constructor?: unknown }).constructor
  const name = typeof constructor === 'function' && constructor.name !== '' ? constructor.name : 'an unnamed class'
  return `is an instance of ${name}, which does not read back as one: store plain data (objects, arrays, strings, numbers, booleans, null, Dates, Buffers)`
}

/** `.a[3]["b c"]`; a long path keeps its first and last steps: `.a.a.a.a.a.a…(250 more).a.a.a.a` */
export function formatPath (path: ReadonlyArray<string | number>): string {
  const step = (segment: string | number): string =>
    typeof segment === 'number' ? `[${segment}]` : /^[A-Za-z_$][\w$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`
  if (path.length <= 12) return path.map(step).join('')
  return `${path.slice(0, 6).map(step).join('')}…(${path.length - 10} more)${path.slice(-4).map(step).join('')}`
}

/** The parts of a value the encoder writes: elements, fields, a Map's keys and values. */
function children (value: object): Array<[string | number, unknown]> {
  if (Array.isArray(value)) return value.map((item, i) => [i, item])
  if (value instanceof Map) return [...value].flatMap(([k, v], i): Array<[string | number, unknown]> => [[`<key ${i}>`, k], [`<value ${i}>`, v]])
  if (value instanceof Set) return [...value].map((item, i) => [`<item ${i}>`, item])
  return Object.entries(value)
}

/**
 * A path in `value` to an object that contains itself, and the path of that object; undefined
 * when there is no cycle. Without recursion, so that any depth is fine; each object is
 * explored once, so that shared parts cost nothing more.
 */
export function findCycle (value: unknown): { from: Array<string | number>, to: Array<string | number> } | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const onPath = new Map<object, number>() // object -> its depth on the current path
  const done = new Set<object>()
  const path: Array<string | number> = []
  const stack: Array<{ object: object, entries: Array<[string | number, unknown]>, next: number }> = []
  const enter = (object: object): void => {
    onPath.set(object, stack.length)
    stack.push({ object, entries: children(object), next: 0 })
  }
  enter(value)
  while (stack.length > 0) {
    const top = stack.at(-1)!
    if (top.next === top.entries.length) {
      stack.pop()
      path.pop()
      onPath.delete(top.object)
      done.add(top.object)
      continue
    }
    const [key, child] = top.entries[top.next++]!
    if (typeof child !== 'object' || child === null || done.has(child)) continue
    const at = onPath.get(child)
    if (at !== undefined) return { from: [...path, key], to: path.slice(0, at) }
    path.push(key)
    enter(child)
  }
  return undefined
}
