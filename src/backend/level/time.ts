// From a moment to a place in the log. Commit times never decrease with position (the writer
// gives each batch max(now, the last batch's time)), so the last position committed at or
// before a moment is found by binary search over the log's chunks: O(log n) seeks, no scan.
import type { Storage } from '../../storage/storage.js'
import type { LogHead } from '../backend.js'
import { chunkAt } from './chunk.js'

/**
 * The last position whose commit time is at or before `time` (ms since the epoch), among the
 * positions up to `head`; -1 when the first event is later than `time` or the log is empty.
 */
export async function positionAt (storage: Storage, head: LogHead, time: number): Promise<number> {
  if (head.position < 0) return -1
  if (time >= head.time) return head.position
  // invariant: every position below `low` is at or before `time`, every one above `high` after it
  let low = 0
  let high = head.position
  while (low <= high) {
    const chunk = await chunkAt(storage, low + Math.floor((high - low) / 2))
    if (chunk.time <= time) low = chunk.first + chunk.count
    else high = chunk.first - 1
  }
  return high
}
