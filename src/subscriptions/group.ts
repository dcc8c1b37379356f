// Consumer groups: several processes share one durable subscription. The streams are divided
// into `members` slots by a stable hash of their names; a slot is a durable cursor of its own
// (its lock, its checkpoint), so each stream is handled by one process at a time, in order.
// Member k runs slot k, and adopts any slot whose member is away (its lock free); when member
// k comes back it asks for its slot, and the adopter hands it over between two events, its
// checkpoint written first: no event is skipped or handled twice by the hand-over. When a
// member goes away without a word (killed), its slots move to the others from their
// checkpoints: at least once, as with any durable subscription.
import { Space, namedKey, prefixRange, readU64 } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'

/**
 * Which member handles a stream: FNV-1a of its name's UTF-8 bytes, modulo the member count.
 * The same in every process and every version.
 */
export function slotOf (stream: string, members: number): number {
  let hash = 0x811c9dc5
  const bytes = Buffer.from(stream, 'utf8')
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % members
}

/** The checkpoint name of slot `slot` of `members`. */
export function slotCheckpoint (name: string, slot: number, members: number): string {
  return `${name}#${slot}/${members}`
}

/** The lock of slot `slot` of `members`. */
export function slotLock (name: string, slot: number, members: number): string {
  return `subscription:${slotCheckpoint(name, slot, members)}`
}

/**
 * Where a slot without a checkpoint starts when the group ran before with another member
 * count: the lowest checkpoint of that layout (its streams are spread differently, so some
 * events are delivered again, none skipped). Undefined when the group never ran.
 */
export async function layoutStart (storage: Storage, name: string, members: number): Promise<number | undefined> {
  const prefix = namedKey(Space.subscriptions, `${name}#`)
  const it = storage.entries(prefixRange(prefix))
  let lowest: number | undefined
  try {
    for (let entries = await it.nextv(256); entries.length > 0; entries = await it.nextv(256)) {
      for (const [key, value] of entries) {
        const layout = /^\d+\/(\d+)$/.exec(key.subarray(prefix.length).toString('utf8'))
        if (layout === null || Number(layout[1]) === members || value.length !== 8) continue
        const next = readU64(value, 0)
        if (next !== undefined) lowest = Math.min(lowest ?? next, next)
      }
    }
  } finally {
    await it.close()
  }
  return lowest
}
