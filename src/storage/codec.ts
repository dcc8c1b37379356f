// The value codec: MessagePack through msgpackr. Records are self-describing maps and arrays
// (no shared structures), so any record decodes on its own, in any process, years later.
import { Packr } from 'msgpackr'

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
