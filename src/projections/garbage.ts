// Old generations are deleted behind: a swap, or a rebuild that replaces one under way, marks
// the generation it retires (`P x gen`, in the same batch), and this deletes its documents and
// history by range, a thousand keys per batch, then the mark. A crash half-way leaves the mark, and the next
// registry to start finishes the job.
import { prefixRange } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { GARBAGE_RANGE, garbageGen, historyPrefix, viewPrefix } from './keys.js'

const KEYS_PER_BATCH = 1024

/** Deletes every marked generation; stops early (leaving marks) once `stopped()` says so. */
export async function collectGarbage (storage: Storage, stopped: () => boolean): Promise<void> {
  for (const mark of await storage.allKeys(GARBAGE_RANGE)) {
    const gen = garbageGen(mark)
    for (const prefix of [viewPrefix(gen), historyPrefix(gen)]) {
      const range = prefixRange(prefix)
      for (;;) {
        if (stopped()) return
        const it = storage.keys({ ...range, limit: KEYS_PER_BATCH })
        let batch: Buffer[]
        try {
          batch = await it.nextv(KEYS_PER_BATCH)
        } finally {
          await it.close()
        }
        if (batch.length === 0) break
        await storage.write(batch.map(key => ({ key })), false)
      }
    }
    await storage.write([{ key: mark }], false)
  }
}
