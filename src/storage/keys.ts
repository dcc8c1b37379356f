// Key spaces and key codecs. Every key annals writes starts with one tag byte naming its key space,
// so the layout is the same whatever database or sublevel it lives in, and a range scan of one
// space never strays into another. We build the bytes ourselves rather than nest abstract-level
// sublevels: measured on classic-level, a chained batch through a sublevel runs about a third
// slower than the same batch with prefixed keys.
//
// Keys never hold event data: they end up in LevelDB's MANIFEST and tombstones, where no delete
// reaches them.

/** Tag bytes of the key spaces. Printable, so a raw dump of the database is readable. */
export const Space = {
  /** database metadata: format version, creation time */
  meta: 0x4d, // 'M'
  /** the log: first position (u64) -> a chunk of events (see backend/level/chunk.ts) */
  log: 0x4c, // 'L'
  /** streams' copies: stream name, 0x00, first revision (u64) -> a block of the stream's events (see backend/level/stream-block.ts) */
  streams: 0x53, // 'S'
  /** id index: event id -> its position, revision and content digest (see backend/level/ids.ts) */
  ids: 0x49, // 'I'
  /** id index of ids that are UUIDs, keyed by their 16 bytes (see backend/level/ids.ts) */
  uuids: 0x55, // 'U'
  /** durable subscription checkpoints: name -> next position (u64) */
  subscriptions: 0x43, // 'C'
  // reserved for the layers above the log, one tag each, so that their keys never meet:
  /** aggregate snapshots */
  snapshots: 0x4e, // 'N'
  /** projections: definitions, checkpoints, status */
  projections: 0x50, // 'P'
  /** projection views: documents by key */
  views: 0x56, // 'V'
  /** projection view history, for time travel of views */
  history: 0x48, // 'H'
  /** personal data: shred records and intents (subjects' keys live in a key store) */
  privacy: 0x4b, // 'K'
  /** stream summaries: stream name -> its last revision and position on disk (see backend/level/stream-index.ts) */
  summaries: 0x52, // 'R'
  /** tag index: tag, 0x00, position (u64) -> the event's type and tags (see backend/level/tags.ts) */
  tags: 0x54, // 'T'
  /** tags' heads: tag -> the last position of an event with it (u64) (see backend/level/tags.ts) */
  tagHeads: 0x47, // 'G'
  /** the rules of streams' lives: deletion, truncation, tombstones, retention (see backend/level/rules.ts) */
  rules: 0x58 // 'X'
} as const

export type SpaceTag = typeof Space[keyof typeof Space]

const MAX_SAFE_HIGH = 0x1fffff // the top 21 bits of a 53-bit safe integer
const TWO_32 = 0x100000000

/** Writes a non-negative safe integer as 8 big-endian bytes at `offset`. */
export function writeU64 (target: Uint8Array, value: number, offset: number): void {
  const high = Math.floor(value / TWO_32)
  const low = value >>> 0
  target[offset] = 0
  target[offset + 1] = high >>> 16 & 0xff
  target[offset + 2] = high >>> 8 & 0xff
  target[offset + 3] = high & 0xff
  target[offset + 4] = low >>> 24
  target[offset + 5] = low >>> 16 & 0xff
  target[offset + 6] = low >>> 8 & 0xff
  target[offset + 7] = low & 0xff
}

/** Reads 8 big-endian bytes at `offset` as a number; undefined when they exceed 2^53 - 1. */
export function readU64 (source: Uint8Array, offset: number): number | undefined {
  const high = (source[offset]! << 24 | source[offset + 1]! << 16 | source[offset + 2]! << 8 | source[offset + 3]!) >>> 0
  const low = (source[offset + 4]! << 24 | source[offset + 5]! << 16 | source[offset + 6]! << 8 | source[offset + 7]!) >>> 0
  if (high > MAX_SAFE_HIGH) return undefined
  return high * TWO_32 + low
}

/** An 8-byte big-endian value, as stored in index entries and checkpoints. */
export function u64 (value: number): Buffer {
  const out = Buffer.allocUnsafe(8)
  writeU64(out, value, 0)
  return out
}

/** The tag byte alone: the lower bound of a key space. */
export function spaceStart (tag: SpaceTag): Buffer {
  return Buffer.from([tag])
}

/** The first key after a key space: its exclusive upper bound. */
export function spaceEnd (tag: SpaceTag): Buffer {
  return Buffer.from([tag + 1])
}

/** `L` + position. */
export function logKey (position: number): Buffer {
  const key = Buffer.allocUnsafe(9)
  key[0] = Space.log
  writeU64(key, position, 1)
  return key
}

/** The position of a log key, or undefined when the key is not one. */
export function logKeyPosition (key: Uint8Array): number | undefined {
  if (key.length !== 9 || key[0] !== Space.log) return undefined
  return readU64(key, 1)
}

/** `S` + stream + 0x00 + first revision of a block. Stream names never contain NUL (validated), so 0x00 ends them. */
export function streamKey (stream: string, revision: number): Buffer {
  const length = Buffer.byteLength(stream)
  const key = Buffer.allocUnsafe(length + 10)
  key[0] = Space.streams
  key.write(stream, 1, 'utf8')
  key[length + 1] = 0
  writeU64(key, revision, length + 2)
  return key
}

/** Bounds of one stream's index entries: `gte` its first possible key, `lt` past its last. */
export function streamBounds (stream: string): { gte: Buffer, lt: Buffer } {
  return nameBounds(Space.streams, stream)
}

/** Bounds of all keys that start with `prefix` (past the last: the prefix with its last byte below 0xff raised). */
export function prefixRange (prefix: Buffer): { gte: Buffer, lt: Buffer } {
  let end = prefix.length
  while (end > 0 && prefix[end - 1] === 0xff) end-- // never the case for our prefixes (UTF-8 and tags never hold 0xff)
  const lt = Buffer.from(prefix.subarray(0, end))
  lt[end - 1]!++
  return { gte: prefix, lt }
}

/**
 * Bounds of the keys `tag` + name + 0x00 + anything: `gte` the first possible, `lt` past the
 * last. The name must not contain NUL.
 */
export function nameBounds (tag: SpaceTag, name: string): { gte: Buffer, lt: Buffer } {
  const length = Buffer.byteLength(name)
  const gte = Buffer.allocUnsafe(length + 2)
  gte[0] = tag
  gte.write(name, 1, 'utf8')
  gte[length + 1] = 0
  const lt = Buffer.from(gte)
  lt[length + 1] = 1
  return { gte, lt }
}

/** Splits a stream index key into stream name and revision; undefined when it is not one. */
export function parseStreamKey (key: Uint8Array): { stream: string, revision: number } | undefined {
  if (key[0] !== Space.streams || key.length < 10 || key[key.length - 9] !== 0) return undefined
  const revision = readU64(key, key.length - 8)
  if (revision === undefined) return undefined
  const stream = Buffer.from(key.buffer, key.byteOffset + 1, key.length - 10).toString('utf8')
  return { stream, revision }
}

/** A key in a space named by a string: `tag` + UTF-8 of `name`. */
export function namedKey (tag: SpaceTag, name: string): Buffer {
  const length = Buffer.byteLength(name)
  const key = Buffer.allocUnsafe(length + 1)
  key[0] = tag
  key.write(name, 1, 'utf8')
  return key
}
