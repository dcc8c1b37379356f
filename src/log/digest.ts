// The digest of a sealed event's content, without its personal fields: what an idempotent
// retry of it is compared by (sealing makes each write's bytes differ). It holds no personal
// data, so nothing of a shredded field survives in it; a retry is recognised by the rest of the
// event. Events without sealed fields are compared by their stored bytes instead.
import { createHash } from 'node:crypto'
import { encode } from '../storage/codec.js'

/** 16 bytes of SHA-256 over the type, the data with its sealed values replaced by placeholders, and the metadata. */
export function digestOf (type: string, stableData: unknown, metadata: Record<string, unknown> | undefined): Buffer {
  return createHash('sha256').update(encode([type, stableData, metadata ?? {}])).digest().subarray(0, 16)
}
