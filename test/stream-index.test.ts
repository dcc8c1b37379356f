// The stream index's tail and its flush: a read that starts after a flush is on disk but
// before the tail is cleared sees each event once, in both directions.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { logChunks, streamChunks } from '../src/log/reader.js'
import { encodeRecord } from '../src/log/record.js'
import { StreamIndex } from '../src/log/stream-index.js'
import { logKey } from '../src/storage/keys.js'
import { Storage, type AnyLevel } from '../src/storage/storage.js'

async function read (chunks: { next: () => Promise<Array<{ revision: number }>> }): Promise<number[]> {
  const out: number[] = []
  for (let c = await chunks.next(); c.length > 0; c = await chunks.next()) out.push(...c.map(e => e.revision))
  return out
}

t.test('reads in the window between a flush and the clearing of the tail', async t => {
  const level = new MemoryLevel()
  const storage = await Storage.openLevel(level as unknown as AnyLevel)
  t.teardown(async () => { await storage.close(); await level.close() })
  const index = await StreamIndex.open(storage, async () => {})
  // ten events of stream 's' at positions 0, 2, 4, ... (another stream between them)
  for (let i = 0; i < 20; i++) {
    const stream = i % 2 === 0 ? 's' : 'o'
    const revision = Math.floor(i / 2)
    const batch = storage.batch()
    batch.put(logKey(i), encodeRecord({ id: `e${i}`, stream, revision, type: 'T', time: i, data: i, metadata: undefined }))
    // flush after the 15th event: 0..14 go to disk with that batch
    const commit = index.stage(batch, [{ stream, revision, position: i, count: 1 }], i, i === 14)
    await batch.write(false)
    if (i === 14) {
      // the flush is on disk, the tail not yet cleared: both hold revisions 0..7 of 's'
      const all = [0, 1, 2, 3, 4, 5, 6, 7]
      t.same(await read(streamChunks(storage, index, 's', { from: undefined, to: undefined, backwards: false, limit: Infinity })), all)
      t.same(await read(streamChunks(storage, index, 's', { from: undefined, to: undefined, backwards: true, limit: Infinity })), [...all].reverse())
      t.same(await read(streamChunks(storage, index, 's', { from: 3, to: 6, backwards: false, limit: Infinity })), [3, 4, 5, 6])
      t.same(await read(streamChunks(storage, index, 's', { from: 6, to: 3, backwards: true, limit: Infinity })), [6, 5, 4, 3])
    }
    commit()
  }
  const all = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  t.same(await read(streamChunks(storage, index, 's', { from: undefined, to: undefined, backwards: false, limit: Infinity })), all, 'disk then tail')
  t.same(await read(streamChunks(storage, index, 's', { from: undefined, to: undefined, backwards: true, limit: Infinity })), [...all].reverse(), 'tail then disk')
  t.equal(await index.revision('s'), 9)
  t.equal(await index.revision('o'), 9)
  t.equal(await index.revision('none'), -1)

  // a reopened index rebuilds the tail from the log after the marker
  const again = await StreamIndex.open(storage, async (from, add) => {
    t.equal(from, 15, 'the marker says 0..14 are on disk')
    const chunks = logChunks(storage, { from, to: 19, backwards: false, limit: Infinity })
    for (let c = await chunks.next(); c.length > 0; c = await chunks.next()) for (const e of c) add(e.stream, e.revision, e.position)
  })
  t.same(await read(streamChunks(storage, again, 's', { from: undefined, to: undefined, backwards: false, limit: Infinity })), all)
  t.same(again.tail('s'), [{ revision: 8, position: 16, count: 1 }, { revision: 9, position: 18, count: 1 }])
})
