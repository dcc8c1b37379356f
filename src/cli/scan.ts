// Reading a range of the database in chunks, closing the iterator however the loop ends.
import type { ChunkIterator } from '../storage/storage.js'

/** The chunks of `it` (up to `size` entries each), until the range is read; closes it at the end. */
export async function * chunksOf<T> (it: ChunkIterator<T>, size = 1024): AsyncGenerator<T[]> {
  try {
    for (let chunk = await it.nextv(size); chunk.length > 0; chunk = await it.nextv(size)) yield chunk
  } finally {
    await it.close()
  }
}
