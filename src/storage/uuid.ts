// UUIDs as 16 bytes and as their canonical text (lowercase hex with dashes, RFC 9562).

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The canonical text of the 16 bytes at `offset`. */
export function formatUuid (b: Uint8Array, offset = 0): string {
  return HEX[b[offset]!]! + HEX[b[offset + 1]!]! + HEX[b[offset + 2]!]! + HEX[b[offset + 3]!]! + '-' +
    HEX[b[offset + 4]!]! + HEX[b[offset + 5]!]! + '-' +
    HEX[b[offset + 6]!]! + HEX[b[offset + 7]!]! + '-' +
    HEX[b[offset + 8]!]! + HEX[b[offset + 9]!]! + '-' +
    HEX[b[offset + 10]!]! + HEX[b[offset + 11]!]! + HEX[b[offset + 12]!]! + HEX[b[offset + 13]!]! + HEX[b[offset + 14]!]! + HEX[b[offset + 15]!]!
}

/** The 16 bytes of a UUID in canonical text, or undefined when `text` is not one (uppercase is not canonical). */
export function parseUuid (text: string): Buffer | undefined {
  if (text.length !== 36 || !CANONICAL.test(text)) return undefined
  return Buffer.from(text.slice(0, 8) + text.slice(9, 13) + text.slice(14, 18) + text.slice(19, 23) + text.slice(24), 'hex')
}
