// Event values as JSON, without loss. Event data may hold what JSON cannot say (dates, bytes,
// bigints, NaN and infinities, undefined); those become one-key objects with a tag, and an
// object of the user's that looks like a tag is wrapped, so that any value comes back as it
// went out:
//   {"$date": "2024-05-01T10:00:00.000Z"}   a Date
//   {"$bytes": "aGVsbG8="}                  a Buffer / Uint8Array, base64
//   {"$bigint": "12345678901234567890"}     a bigint
//   {"$number": "NaN"}                      NaN, "Infinity" or "-Infinity"
//   {"$undefined": true}                    undefined
//   {"$object": {"$date": "not mine"}}      an object of the data with one key that is a tag

const TAGS = new Set(['$date', '$bytes', '$bigint', '$number', '$undefined', '$object'])

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** `value` made of what JSON carries, tagging the rest. */
export function toJsonValue (value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : { $number: String(value) }
    case 'bigint':
      return { $bigint: value.toString() }
    case 'undefined':
      return { $undefined: true }
    case 'object':
      break
    default:
      return value
  }
  if (value === null) return null
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString() }
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64') }
  if (Array.isArray(value)) return value.map(toJsonValue)
  const out: Record<string, unknown> = {}
  const keys = Object.keys(value)
  for (const key of keys) put(out, key, toJsonValue((value as Record<string, unknown>)[key]))
  return keys.length === 1 && TAGS.has(keys[0]!) ? { $object: out } : out
}

/** The value {@link toJsonValue} was given, from what it returned (after a JSON round trip). */
export function fromJsonValue (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJsonValue)
  if (!isPlainObject(value)) return value
  const keys = Object.keys(value)
  if (keys.length === 1 && TAGS.has(keys[0]!)) {
    const tag = keys[0]!
    const inner = value[tag]
    switch (tag) {
      case '$date':
        if (typeof inner === 'string') return new Date(inner)
        break
      case '$bytes':
        if (typeof inner === 'string') return Buffer.from(inner, 'base64')
        break
      case '$bigint':
        if (typeof inner === 'string' && /^-?\d+$/.test(inner)) return BigInt(inner)
        break
      case '$number':
        if (inner === 'NaN' || inner === 'Infinity' || inner === '-Infinity') return Number(inner)
        break
      case '$undefined':
        if (inner === true) return undefined
        break
      case '$object':
        if (isPlainObject(inner)) return fromEntries(inner)
        break
    }
    throw new SyntaxError(`${JSON.stringify(value)} is not a valid ${tag} value`)
  }
  return fromEntries(value)
}

function fromEntries (value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) put(out, key, fromJsonValue(value[key]))
  return out
}

/** Sets a property, as an own one even when it is named `__proto__`. */
function put (target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}
