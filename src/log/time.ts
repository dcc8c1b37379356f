// From a moment to a place in the log. Commit times never decrease with position (the writer
// gives each batch max(now, the last batch's time)), so the last position committed at or
// before a moment is found by binary search over positions: O(log n) point reads of records,
// answered synchronously from LevelDB's caches where the database can, and no scan.
import { AnnalsError } from '../errors.js'
import { logKey } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { decodeRecord } from './record.js'
import type { LogHead } from './writer.js'

/**
 * The last position whose commit time is at or before `time` (ms since the epoch), among the
 * positions up to `head`; -1 when the first event is later than `time` or the log is empty.
 */
export async function positionAt (storage: Storage, head: LogHead, time: number): Promise<number> {
  if (head.position < 0) return -1
  if (time >= head.time) return head.position
  // invariant: every position below `low` is at or before `time`, every one above `high` after it
  let low = 0
  let high = head.position - 1 // the head itself is after `time`
  while (low <= high) {
    const mid = low + Math.floor((high - low) / 2)
    if (await timeOf(storage, mid) <= time) low = mid + 1
    else high = mid - 1
  }
  return high
}

async function timeOf (storage: Storage, position: number): Promise<number> {
  const bytes = await storage.get(logKey(position))
  if (bytes === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The record at position ${position} is missing`)
  return decodeRecord(position, bytes).time
}
