// From a moment to a position: commit times never decrease with position, so the last event
// committed at or before a time is found by binary search over the records, about twenty
// point reads for a million events.
import { AnnalsError } from '../errors.js'
import { logKey } from '../storage/keys.js'
import type { Log } from './log.js'
import { decodeRecord } from './record.js'

/**
 * The position of the last event committed at or before `time` (ms since the epoch), or -1
 * when the log has none that early.
 */
export async function positionAtTime (log: Log, time: number): Promise<number> {
  let low = 0
  let high = log.head.position // the answer lies in low-1 .. high
  if (high < 0 || time >= log.head.time) return high
  while (low <= high) {
    const mid = Math.floor((low + high) / 2)
    if (await timeAt(log, mid) <= time) low = mid + 1
    else high = mid - 1
  }
  return high
}

async function timeAt (log: Log, position: number): Promise<number> {
  const bytes = await log.storage.get(logKey(position))
  if (bytes === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The record at position ${position} is missing`)
  return decodeRecord(position, bytes).time
}
