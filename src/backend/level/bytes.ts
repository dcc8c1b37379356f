// Building and reading the bytes of records: unsigned varints (7 bits a byte, little end first,
// up to 2^53), length-prefixed byte strings, and the crc32 every record starts with.
import { crc32 } from 'node:zlib'

/** Appends bytes to a growing buffer. */
export class Writer {
  #buffer: Buffer
  #length = 0

  constructor (capacity = 256) {
    this.#buffer = Buffer.allocUnsafe(capacity)
  }

  get length (): number {
    return this.#length
  }

  #room (n: number): void {
    if (this.#length + n <= this.#buffer.length) return
    const next = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + n))
    this.#buffer.copy(next, 0, 0, this.#length)
    this.#buffer = next
  }

  byte (b: number): void {
    this.#room(1)
    this.#buffer[this.#length++] = b
  }

  varint (n: number): void {
    this.#room(8)
    const buffer = this.#buffer
    while (n >= 0x80) {
      buffer[this.#length++] = n % 0x80 | 0x80
      n = Math.floor(n / 0x80)
    }
    buffer[this.#length++] = n
  }

  bytes (b: Uint8Array): void {
    this.#room(b.length)
    this.#buffer.set(b, this.#length)
    this.#length += b.length
  }

  /** A varint length, then the bytes. */
  lengthPrefixed (b: Uint8Array): void {
    this.varint(b.length)
    this.bytes(b)
  }

  /** A varint length, then the UTF-8 bytes of `s`. */
  string (s: string): void {
    const n = Buffer.byteLength(s)
    this.varint(n)
    this.#room(n)
    this.#length += this.#buffer.write(s, this.#length, n, 'utf8')
  }

  /** Reserves 4 bytes for a checksum (see {@link sealed}). */
  checksumSlot (): void {
    this.#room(4)
    this.#length += 4
  }

  /** The bytes written, with the crc32 of everything after the first 4 bytes in those 4 bytes. */
  sealed (): Buffer {
    const out = this.#buffer.subarray(0, this.#length)
    out.writeUInt32LE(crc32(out.subarray(4)), 0)
    return out
  }

  /** The bytes written, as they are. */
  done (): Buffer {
    return this.#buffer.subarray(0, this.#length)
  }
}

/** Thrown by {@link Reader} on bytes that do not parse: the caller says where. */
export class MalformedError extends Error {
  override get name (): string {
    return 'MalformedError'
  }
}

/** Reads the bytes {@link Writer} builds. Throws {@link MalformedError} past the end or on a varint too large. */
export class Reader {
  readonly buffer: Buffer
  offset: number
  readonly end: number

  constructor (buffer: Buffer, offset = 0, end = buffer.length) {
    this.buffer = buffer
    this.offset = offset
    this.end = end
  }

  get done (): boolean {
    return this.offset >= this.end
  }

  byte (): number {
    if (this.offset >= this.end) throw new MalformedError('ends early')
    return this.buffer[this.offset++]!
  }

  varint (): number {
    const buffer = this.buffer
    let n = 0
    let scale = 1
    for (;;) {
      if (this.offset >= this.end || scale > 2 ** 49) throw new MalformedError('a malformed number')
      const b = buffer[this.offset++]!
      n += (b & 0x7f) * scale
      if (b < 0x80) return n
      scale *= 0x80
    }
  }

  /** `n` bytes, as a view into the buffer. */
  bytes (n: number): Buffer {
    const start = this.offset
    if (n > this.end - start) throw new MalformedError('ends early')
    this.offset = start + n
    return this.buffer.subarray(start, this.offset)
  }

  /** Moves past `n` bytes. */
  skip (n: number): void {
    if (n > this.end - this.offset) throw new MalformedError('ends early')
    this.offset += n
  }

  lengthPrefixed (): Buffer {
    return this.bytes(this.varint())
  }

  string (): string {
    const n = this.varint()
    const start = this.offset
    if (n > this.end - start) throw new MalformedError('ends early')
    this.offset = start + n
    return this.buffer.toString('utf8', start, this.offset)
  }
}

/** Whether the first 4 bytes of `value` are the crc32 of the rest. */
export function checksumHolds (value: Buffer): boolean {
  return value.length >= 4 && value.readUInt32LE(0) === crc32(value.subarray(4))
}
