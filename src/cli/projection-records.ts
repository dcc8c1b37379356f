// The stored records of projections (their checkpoints), read without their definitions: what
// `info` shows and `verify` checks.
import { readRecords, type GenerationRecord } from '../projections/checkpoints.js'
import { Space, namedKey } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { chunksOf } from './scan.js'

/** A projection as stored: its view in use, and one being rebuilt beside it, if any. */
export interface StoredProjection {
  name: string
  active: GenerationRecord | undefined
  building: GenerationRecord | undefined
}

/**
 * Every projection with a stored record, by name; a record that does not decode is
 * `ANNALS_CORRUPT` (naming the projection), unless `onError` takes it.
 */
export async function * storedProjections (storage: Storage, onError?: (name: string, err: unknown) => void): AsyncGenerator<StoredProjection> {
  // P 'a' name (active) and P 'b' name (being rebuilt): one range, 'a' before 'b'
  const names = new Set<string>()
  for await (const keys of chunksOf(storage.keys({ gte: namedKey(Space.projections, 'a'), lt: namedKey(Space.projections, 'c') }))) {
    for (const key of keys) names.add(key.subarray(2).toString('utf8'))
  }
  for (const name of [...names].sort()) {
    try {
      yield { name, ...await readRecords(storage, name) }
    } catch (err) {
      if (onError === undefined) throw err
      onError(name, err)
    }
  }
}
