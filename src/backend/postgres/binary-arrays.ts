// Arrays sent to PostgreSQL in its binary format (array_send's, as array_recv reads it): node-postgres
// sends a Buffer parameter as binary, and a JavaScript array as an array literal in text,
// escaping each element and writing a bytea as hex, which the server then parses back. For
// the columns of a batch of events, the text form cost both sides more than the rows' INSERT
// (measured in docs/benchmarks.md, "Binary arrays"). Each parameter still names its type in
// the statement (`$1::bytea[]`); the element type written here must be the same.

/** The element types, by their oid in pg_type. */
const BOOL = 16
const BYTEA = 17
const INT8 = 20
const INT4 = 23
const TEXT = 25

/** ndim, flags (has nulls), element type, then the one dimension's length and lower bound. */
const HEADER = 20
const EMPTY_HEADER = 12

function header (buf: Buffer, oid: number, length: number, nulls: boolean): number {
  if (length === 0) {
    buf.writeInt32BE(0, 0)
    buf.writeInt32BE(0, 4)
    buf.writeInt32BE(oid, 8)
    return EMPTY_HEADER
  }
  buf.writeInt32BE(1, 0)
  buf.writeInt32BE(nulls ? 1 : 0, 4)
  buf.writeInt32BE(oid, 8)
  buf.writeInt32BE(length, 12)
  buf.writeInt32BE(1, 16)
  return HEADER
}

/**
 * An array of elements of their own lengths, nulls NULL: each takes at most `most` bytes and is
 * written by `put` at `at` (it answers how many bytes it wrote).
 */
function varying<T> (oid: number, values: ReadonlyArray<T | null>, most: (value: T) => number, put: (buf: Buffer, value: T, at: number) => number): Buffer {
  let size = HEADER
  let nulls = false
  for (const v of values) {
    if (v === null) nulls = true
    else size += most(v)
    size += 4
  }
  const buf = Buffer.allocUnsafe(size)
  let at = header(buf, oid, values.length, nulls)
  for (const v of values) {
    if (v === null) {
      at = buf.writeInt32BE(-1, at)
    } else {
      const n = put(buf, v, at + 4)
      buf.writeInt32BE(n, at)
      at += 4 + n
    }
  }
  return buf.subarray(0, at)
}

/** A `bytea[]` parameter; null elements are NULL. */
export function byteaArray (values: ReadonlyArray<Buffer | null>): Buffer {
  return varying(BYTEA, values, v => v.length, (buf, v, at) => v.copy(buf, at))
}

/** A `text[]` parameter (UTF-8); null elements are NULL. */
export function textArray (values: ReadonlyArray<string | null>): Buffer {
  // at most 3 bytes of UTF-8 per UTF-16 unit
  return varying(TEXT, values, v => v.length * 3, (buf, v, at) => buf.write(v, at, 'utf8'))
}

/** An array of elements of `width` bytes each, each written by `put` at `at` (it answers where it ended). */
function fixed<T> (oid: number, width: number, values: readonly T[], put: (buf: Buffer, value: T, at: number) => number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER + values.length * (4 + width))
  let at = header(buf, oid, values.length, false)
  for (const v of values) at = put(buf, v, buf.writeInt32BE(width, at))
  return buf.subarray(0, at)
}

/** A `bigint[]` parameter of safe integers. */
export function int8Array (values: readonly number[]): Buffer {
  return fixed(INT8, 8, values, (buf, v, at) => buf.writeUInt32BE(v >>> 0, buf.writeInt32BE(Math.floor(v / 4294967296), at)))
}

/** An `integer[]` parameter. */
export function int4Array (values: readonly number[]): Buffer {
  return fixed(INT4, 4, values, (buf, v, at) => buf.writeInt32BE(v, at))
}

/** A `boolean[]` parameter. */
export function boolArray (values: readonly boolean[]): Buffer {
  return fixed(BOOL, 1, values, (buf, v, at) => buf.writeUInt8(v ? 1 : 0, at))
}
