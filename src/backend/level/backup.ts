// Copying a live LevelDB: one iterator reads one snapshot of the whole database (LevelDB takes
// it when the iterator is made), so the copy is the database as it was at one moment, between
// two batches, while writes go on. Copying its files instead could catch a table being
// compacted or a log being written.
import { readdirSync } from 'node:fs'
import { ClassicLevel } from 'classic-level'
import type { AnyLevel } from './door.js'
import { storageError } from './door.js'

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const
/** Entries per read and per batch written. */
const BATCH = 1024

/** An iterator on `db` over everything: its snapshot is taken now. */
export function snapshotIterator (db: AnyLevel): { nextv (size: number): Promise<Array<[Buffer, Buffer]>>, close (): Promise<void> } {
  return db.iterator(BUFFERS) as unknown as ReturnType<typeof snapshotIterator>
}

/**
 * Copies what `source` (an iterator made by {@link snapshotIterator}) reads into a new LevelDB
 * at `dest`, durable when it resolves. `dest` must not exist, or be an empty folder.
 */
export async function copyInto (source: ReturnType<typeof snapshotIterator>, dest: string, options: { compression?: boolean } = {}): Promise<number> {
  assertFresh(dest)
  const target = new ClassicLevel<Buffer, Buffer>(dest, { ...BUFFERS, ...options })
  let copied = 0
  try {
    await target.open()
    let entries = await source.nextv(BATCH)
    while (entries.length > 0) {
      const next = await source.nextv(BATCH)
      const batch = target.batch()
      for (const [key, value] of entries) batch.put(key, value)
      // the last batch is synced, which makes the log before it durable too
      await (next.length === 0 ? batch.write({ sync: true }) : batch.write())
      copied += entries.length
      entries = next
    }
  } catch (err) {
    throw storageError(err)
  } finally {
    await source.close().catch(() => {})
    await target.close().catch(() => {})
  }
  return copied
}

/** Throws a TypeError unless `dest` is missing or an empty folder. */
export function assertFresh (dest: string): void {
  let names: string[]
  try {
    names = readdirSync(dest)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new TypeError(`A backup goes into a new or empty folder; ${dest} is not one`)
  }
  if (names.length > 0) throw new TypeError(`A backup goes into a new or empty folder; ${dest} holds files`)
}
