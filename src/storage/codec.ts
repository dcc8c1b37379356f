// The value codec: MessagePack through msgpackr. Records are self-describing maps and arrays
// (no shared structures), so any record decodes on its own, in any process, years later.
import { Packr, addExtension } from 'msgpackr'

/** Thrown by {@link encode} when a value holds something MessagePack cannot carry. */
export class UnencodableError extends Error {
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
 * cycles and integers too large for 64 bits.
 */
export function encode (value: unknown): Buffer {
  try {
    return packr.pack(value)
  } catch (err) {
    if (err instanceof UnencodableError) throw err
    // msgpackr reports a cycle as a stack overflow and a symbol as "Unknown type"
    const why = err instanceof RangeError && /call stack/i.test(err.message)
      ? 'it contains a cycle'
      : (err as Error).message
    throw new UnencodableError(why, { cause: err })
  }
}

/** Decodes MessagePack bytes. Throws whatever msgpackr throws on malformed input. */
export function decode (bytes: Uint8Array): unknown {
  return packr.unpack(bytes)
}

/** How many extension values (see {@link registerExtension}) have been decoded so far. */
let extensionReads = 0

/**
 * Registers a class that values may hold, encoded as a MessagePack extension of `type`
 * (1 to 127): `write` turns an instance into encodable parts, `read` the parts back into one.
 * The layers above use this to store values the codec itself knows nothing about.
 */
export function registerExtension<T> (Class: new (...args: never[]) => T, type: number, write: (value: T) => unknown, read: (parts: unknown) => T): void {
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
  const value = packr.unpack(bytes)
  return [value, extensionReads !== before]
}
