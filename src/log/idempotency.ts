// Idempotent retries: finding stored events by id, and deciding whether an append repeats
// events already stored (then it writes nothing and answers as the first time did).
import { AnnalsError } from '../errors.js'
import { encode } from '../storage/codec.js'
import { Space, logKey, namedKey, readU64 } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { positionInEventId } from './event-id.js'
import { decodeRecord } from './record.js'
import type { AppendResult, RecordedEvent } from './types.js'
import type { PendingEvent } from './validate.js'

/** An event with an id of its own, placed in the batch being built. */
export interface Placed {
  stream: string
  revision: number
  position: number
  event: PendingEvent
}

/**
 * Finds stored events by id: through the position a generated id carries (no index entry
 * needed), else through the id index.
 */
export async function findById (storage: Storage, ids: readonly string[], head: number): Promise<Map<string, RecordedEvent>> {
  const found = new Map<string, RecordedEvent>()
  const carried: Array<[string, number]> = []
  for (const id of ids) {
    const p = positionInEventId(id)
    if (p !== undefined && p <= head) carried.push([id, p])
  }
  const [records, indexed] = await Promise.all([
    storage.getMany(carried.map(([, p]) => logKey(p))),
    storage.getMany(ids.map(id => namedKey(Space.ids, id)))
  ])
  carried.forEach(([id, p], i) => {
    const bytes = records[i]
    if (bytes === undefined) return
    const event = decodeRecord(p, bytes)
    if (event.id === id) found.set(id, event)
  })
  const viaIndex: Array<[string, number]> = []
  ids.forEach((id, i) => {
    const value = indexed[i]
    if (value === undefined || found.has(id)) return
    const p = value.length === 8 ? readU64(value, 0) : undefined
    if (p === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The id index entry of '${id}' is malformed`)
    viaIndex.push([id, p])
  })
  const more = await storage.getMany(viaIndex.map(([, p]) => logKey(p)))
  viaIndex.forEach(([id, p], i) => {
    const bytes = more[i]
    const event = bytes === undefined ? undefined : decodeRecord(p, bytes)
    if (event?.id !== id) throw new AnnalsError('ANNALS_CORRUPT', `The id index points '${id}' at position ${p}, which holds another event`)
    found.set(id, event)
  })
  return found
}

/**
 * If every event of an append to `stream` is already stored (in `found`) or placed earlier in
 * the batch being built (in `pending`), in this stream, with the same content, in the same
 * order: the result of the original, and whether it waits for the batch being built. Undefined
 * when none is. Anything in between is `ANNALS_DUPLICATE_ID`.
 */
export function retried (stream: string, events: readonly PendingEvent[], found: ReadonlyMap<string, RecordedEvent>, pending: ReadonlyMap<string, Placed>): { result: AppendResult, pending: boolean } | undefined {
  let matches = 0
  let seen: Set<string> | undefined
  for (const e of events) {
    if (e.id === undefined) continue
    seen ??= new Set()
    if (seen.has(e.id)) throw duplicate(`The id '${e.id}' appears twice in one append`)
    seen.add(e.id)
    if (pending.has(e.id) || found.has(e.id)) matches++
  }
  if (matches === 0) return undefined
  if (matches < events.length) throw duplicate('Some events of this append are already stored and some are not')
  let last: AppendResult | undefined
  let inBatch = false
  for (const e of events) {
    const id = e.id!
    const placed = pending.get(id)
    const at = placed ?? found.get(id)!
    const same = at.stream === stream && (last === undefined || at.revision > last.revision) &&
      sameContent(e, placed !== undefined ? placed.event : found.get(id)!)
    if (!same) throw duplicate(`The id '${id}' is already stored with other content, stream or order`)
    last = { revision: at.revision, position: at.position }
    inBatch ||= placed !== undefined
  }
  return { result: last!, pending: inBatch }
}

function duplicate (message: string): AnnalsError {
  return new AnnalsError('ANNALS_DUPLICATE_ID', message)
}

function sameContent (a: PendingEvent, b: { type: string, data: unknown, metadata: Record<string, unknown> | undefined }): boolean {
  return a.type === b.type &&
    encode(a.data).equals(encode(b.data)) &&
    encode(a.metadata ?? {}).equals(encode(b.metadata ?? {}))
}
