// A log on the level backend, for tests of the layers above it that need no `open()`.
import type { MemoryLevel } from 'memory-level'
import type { AnyLevel } from '../../src/backend/level/door.js'
import { LevelBackend } from '../../src/backend/level/level-backend.js'
import { Log } from '../../src/log/log.js'
import type { Storage } from '../../src/storage/storage.js'

/** A log on `level`, its key spaces, and how to close both (the level stays open). */
export async function openLog (level: MemoryLevel | AnyLevel, options: { maxEventSize?: number, sync?: boolean } = {}): Promise<{ log: Log, storage: Storage }> {
  const backend = await LevelBackend.openLevel(level as AnyLevel, { sync: options.sync ?? false })
  return { log: new Log(backend, { maxEventSize: options.maxEventSize ?? 1 << 20 }), storage: backend.storage }
}
