// The keys of snapshots, in key space `N`:
//   N stream 0x00 name 0x00 version (u64) fingerprint (8 bytes) revision (u64)
// Stream first, then the definition that made them, so that a load sees only snapshots of its
// own version and code (the fingerprint covers the event types' upcasting too, see
// aggregates.ts); then the revision, so that the newest one at or before a target
// is one reverse seek. Stream and aggregate names never contain NUL (both are checked).
import { Space, readU64, writeU64 } from '../storage/keys.js'
import type { Aggregate } from './define.js'

const FINGERPRINT_BYTES = 8

/**
 * The part of a snapshot key before its revision: stream and definition, with `fingerprint` in
 * place of the aggregate's own when given (its code with the upcasting of the events it folds).
 */
export function snapshotPrefix (stream: string, aggregate: Aggregate, fingerprint = aggregate.fingerprint): Buffer {
  const streamBytes = Buffer.byteLength(stream)
  const nameBytes = Buffer.byteLength(aggregate.name)
  const key = Buffer.allocUnsafe(1 + streamBytes + 1 + nameBytes + 1 + 8 + FINGERPRINT_BYTES)
  key[0] = Space.snapshots
  let at = 1 + key.write(stream, 1, 'utf8')
  key[at++] = 0
  at += key.write(aggregate.name, at, 'utf8')
  key[at++] = 0
  writeU64(key, aggregate.version, at)
  key.write(fingerprint, at + 8, FINGERPRINT_BYTES, 'hex')
  return key
}

/** A snapshot's key: its prefix and revision. */
export function snapshotKey (prefix: Buffer, revision: number): Buffer {
  const key = Buffer.allocUnsafe(prefix.length + 8)
  prefix.copy(key, 0)
  writeU64(key, revision, prefix.length)
  return key
}

/** What a snapshot key says. */
export interface SnapshotKey {
  stream: string
  name: string
  version: number
  fingerprint: string
  revision: number
}

/** Splits a snapshot key; undefined when it is not one. */
export function parseSnapshotKey (key: Uint8Array): SnapshotKey | undefined {
  if (key[0] !== Space.snapshots) return undefined
  const bytes = Buffer.from(key.buffer, key.byteOffset, key.length)
  const streamEnd = bytes.indexOf(0, 1)
  const nameEnd = streamEnd < 0 ? -1 : bytes.indexOf(0, streamEnd + 1)
  if (nameEnd < 0 || bytes.length !== nameEnd + 1 + 8 + FINGERPRINT_BYTES + 8) return undefined
  const version = readU64(bytes, nameEnd + 1)
  const revision = readU64(bytes, nameEnd + 1 + 8 + FINGERPRINT_BYTES)
  if (version === undefined || revision === undefined) return undefined
  return {
    stream: bytes.toString('utf8', 1, streamEnd),
    name: bytes.toString('utf8', streamEnd + 1, nameEnd),
    version,
    fingerprint: bytes.toString('hex', nameEnd + 9, nameEnd + 9 + FINGERPRINT_BYTES),
    revision
  }
}
