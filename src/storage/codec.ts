// The value codec: MessagePack through msgpackr. Records are self-describing maps and arrays
// (no shared structures), so any record decodes on its own, in any process, years later.
import { Packr, addExtension } from 'msgpackr'
import { COLUMNS, decodeColumns, encodeColumns, type Parts } from './columns.js'
import { acceptExtensionClass, findCycle, formatPath, type ProblemKind } from './exact.js'

/**
 * Thrown by {@link encode} when a value holds something MessagePack cannot carry, and the cause
 * of the errors that refuse data which would not read back as it is (see exact.ts).
 */
export class UnencodableError extends Error {
  /** what is wrong: `'cycle'` and `'depth'` are told apart truthfully; `'unsupported'` for the rest */
  readonly kind: ProblemKind

  constructor (message: string, options: { cause?: unknown, kind?: ProblemKind } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.kind = options.kind ?? 'unsupported'
  }

  override get name (): string {
    return 'UnencodableError'
  }
}

const packr = new Packr({ useRecords: false, moreTypes: false })
// msgpackr silently writes functions as `undefined`; a database must refuse them instead.
;(packr as unknown as { writeFunction: () => never }).writeFunction = () => {
  throw new UnencodableError('a function cannot be stored')
}

/**
 * Encodes a value as MessagePack bytes. Throws {@link UnencodableError} for functions, symbols,
 * cycles, values nested too deep for the stack and integers too large for 64 bits.
 */
export function encode (value: unknown): Buffer {
  return packed(value, pack)
}

/**
 * Encodes an event's data: as {@link encode} does, but a plain object of up to 64 keys in the
 * column layout (columns.ts), which decodes in about half the time. {@link decode} reads both.
 *
 * @example
 * ```ts
 * const bytes = encodeData({ title: 'Dunes', size: 2400000 }) // bytes[0] === 0xc1
 * decode(bytes) // { title: 'Dunes', size: 2400000 }, keys in the same order
 * ```
 */
export function encodeData (value: unknown): Buffer {
  return packed(value, packData)
}

const pack = (value: unknown): Buffer => packr.pack(value)
const packData = (value: unknown): Buffer => encodeColumns(value, parts) ?? packr.pack(value)

function packed (value: unknown, how: (value: unknown) => Buffer): Buffer {
  try {
    return how(value)
  } catch (err) {
    if (err instanceof UnencodableError) throw err
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      // msgpackr recurses: a cycle and a very deep value both overflow the stack. Which one it
      // was is found only now, so that encoding costs nothing for it.
      const cycle = findCycle(value)
      if (cycle === undefined) throw new UnencodableError('it is nested too deep to encode (it has no cycle)', { cause: err, kind: 'depth' })
      throw new UnencodableError(`it contains a cycle: value${formatPath(cycle.from)} refers back to value${formatPath(cycle.to)}`, { cause: err, kind: 'cycle' })
    }
    // msgpackr reports a symbol as "Unknown type"
    throw new UnencodableError((err as Error).message, { cause: err })
  }
}

/** Decodes what {@link encode} or {@link encodeData} wrote. Throws an Error (msgpackr's, or the column layout's) on malformed input. */
export function decode (bytes: Uint8Array): unknown {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  return decodeRange(buffer, 0, buffer.length)
}

const range = { start: 0, end: 0 }
const parts: Parts = { pack, unpackRange }

/**
 * Decodes the MessagePack bytes `buffer[start..end)`, which must hold exactly one value, without
 * a view of them: msgpackr keeps one DataView per buffer, so the events of one chunk share it.
 */
export function decodeRange (buffer: Buffer, start: number, end: number): unknown {
  if (buffer[start] === COLUMNS && start < end) return decodeColumns(buffer, start, end, parts)
  return unpackRange(buffer, start, end)
}

function unpackRange (buffer: Buffer, start: number, end: number): unknown {
  range.start = start
  range.end = end
  return packr.unpack(buffer, range)
}

/** How many extension values (see {@link registerExtension}) have been decoded so far. */
let extensionReads = 0

/**
 * Registers a class that values may hold, encoded as a MessagePack extension of `type`
 * (1 to 127): `write` turns an instance into encodable parts, `read` the parts back into one.
 * The layers above use this to store values the codec itself knows nothing about.
 */
export function registerExtension<T> (Class: new (...args: never[]) => T, type: number, write: (value: T) => unknown, read: (parts: unknown) => T): void {
  acceptExtensionClass(Class)
  addExtension({
    Class,
    type,
    write,
    read (parts: unknown) {
      extensionReads++
      return read(parts)
    }
  })
}

/** Decodes bytes, and tells whether the value holds any extension value. */
export function decodeWithExtensions (bytes: Uint8Array): [value: unknown, extensions: boolean] {
  const before = extensionReads
  const value = decode(bytes)
  return [value, extensionReads !== before]
}
