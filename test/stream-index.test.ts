// The streams' blocks and their tail: a read that starts after a flush is on disk but before
// the tail is cleared sees each event once, in both directions; a reopened index rebuilds its
// tail from the chunks after the marker; revisionAt finds revisions by binary search.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import type { ReadyEvent } from '../src/backend/backend.js'
import { Writer } from '../src/backend/level/bytes.js'
import { ChunkBuilder } from '../src/backend/level/chunk.js'
import { LevelDoor, type AnyLevel } from '../src/backend/level/door.js'
import { eventSize, peekEvent, writeEvent } from '../src/backend/level/event-record.js'
import { streamChunks } from '../src/backend/level/readers.js'
import type { BlockEvent } from '../src/backend/level/stream-block.js'
import { StreamIndex } from '../src/backend/level/stream-index.js'
import { encode } from '../src/storage/codec.js'
import type { WriteOp } from '../src/storage/storage.js'

async function read (chunks: { next: () => Promise<Array<{ revision: number }>> }): Promise<number[]> {
  const out: number[] = []
  for (let c = await chunks.next(); c.length > 0; c = await chunks.next()) out.push(...c.map(e => e.revision))
  return out
}

function ready (i: number): ReadyEvent {
  return { id: `e${i}`, indexed: false, fresh: true, type: 'T', version: 1, tags: undefined, data: encode(i), metadata: undefined, sealed: false, digest: undefined }
}

/** Writes event `i` of `stream` at `revision` as a one-event chunk; returns the tail's entry of it. */
function chunkOf (ops: WriteOp[], stream: string, revision: number, i: number): BlockEvent {
  const e = ready(i)
  const w = new Writer(eventSize(stream, e))
  writeEvent(w, stream, revision, e)
  const chunk = new ChunkBuilder(i, i)
  chunk.add(w.done())
  const { key, value, events } = chunk.finish()
  ops.push({ key, value })
  return { revision, position: i, time: i, bytes: events[0]! }
}

const forwards = { from: undefined, to: undefined, backwards: false, limit: Infinity }
const backwards = { ...forwards, backwards: true }

t.test('reads in the window between a flush and the clearing of the tail', async t => {
  const level = new MemoryLevel()
  const door = await LevelDoor.openLevel(level as unknown as AnyLevel)
  t.teardown(async () => { await door.close(); await level.close() })
  const index = await StreamIndex.open(door, async () => {})
  // ten events of stream 's' at positions 0, 2, 4, ... (another stream between them)
  for (let i = 0; i < 20; i++) {
    const stream = i % 2 === 0 ? 's' : 'o'
    const revision = Math.floor(i / 2)
    const ops: WriteOp[] = []
    const e = chunkOf(ops, stream, revision, i)
    // flush after the 15th event: 0..14 go to disk with that batch
    const commit = index.stage(ops, new Map([[stream, [e]]]), i, i === 14)
    await door.write(ops, false)
    if (i === 14) {
      // the flush is on disk, the tail not yet cleared: both hold revisions 0..6 of 's', and
      // revision 7 (this batch's) is on disk but not yet committed: reads stop before it
      const all = [0, 1, 2, 3, 4, 5, 6]
      t.same(await read(streamChunks(door, index, 's', forwards)), all)
      t.same(await read(streamChunks(door, index, 's', backwards)), [...all].reverse())
      t.same(await read(streamChunks(door, index, 's', { from: 3, to: 6, backwards: false, limit: Infinity })), [3, 4, 5, 6])
      t.same(await read(streamChunks(door, index, 's', { from: 6, to: 3, backwards: true, limit: Infinity })), [6, 5, 4, 3])
    }
    commit()
  }
  const all = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  t.same(await read(streamChunks(door, index, 's', forwards)), all, 'disk then tail')
  t.same(await read(streamChunks(door, index, 's', backwards)), [...all].reverse(), 'tail then disk')
  t.same(await read(streamChunks(door, index, 's', { ...forwards, limit: 3 })), [0, 1, 2])
  t.same(await read(streamChunks(door, index, 's', { ...backwards, limit: 3 })), [9, 8, 7])
  t.equal(await index.revision('s'), 9)
  t.equal(await index.revision('o'), 9)
  t.equal(await index.revision('none'), -1)
  t.same([await index.revisionAt('s', 0), await index.revisionAt('s', 1), await index.revisionAt('s', 13), await index.revisionAt('s', 16), await index.revisionAt('s', 100)], [0, 0, 6, 8, 9])
  t.equal(await index.revisionAt('none', 5), -1)

  // a reopened index rebuilds the tail from the log after the marker
  const again = await StreamIndex.open(door, async (from, add) => {
    t.equal(from, 15, 'the marker says 0..14 are on disk')
    for (let i = from; i < 20; i++) {
      const ops: WriteOp[] = []
      const e = chunkOf(ops, i % 2 === 0 ? 's' : 'o', Math.floor(i / 2), i)
      add(peekEvent(e.bytes, 0, e.bytes.length).stream, e)
    }
  })
  t.same(await read(streamChunks(door, again, 's', forwards)), all)
  t.same(again.tail('s').map(e => [e.revision, e.position]), [[8, 16], [9, 18]])
})

t.test('revisionAt by binary search over many blocks', async t => {
  const level = new MemoryLevel()
  const door = await LevelDoor.openLevel(level as unknown as AnyLevel)
  t.teardown(async () => { await door.close(); await level.close() })
  const index = await StreamIndex.open(door, async () => {})
  // stream 's' at every third position, flushed every 7 positions: many small blocks
  let revision = 0
  const positions: number[] = []
  for (let i = 0; i < 300; i++) {
    const ops: WriteOp[] = []
    const mine = i % 3 === 0
    const e = chunkOf(ops, mine ? 's' : 'o', mine ? revision : Math.floor(i / 3) * 2 + (i % 3) - 1, i)
    if (mine) {
      positions.push(i)
      revision++
    }
    const commit = index.stage(ops, new Map([[mine ? 's' : 'o', [e]]]), i, i % 7 === 6)
    await door.write(ops, false)
    commit()
  }
  for (let p = 0; p < 305; p++) {
    let expected = -1
    positions.forEach((q, r) => { if (q <= p) expected = r })
    t.equal(await index.revisionAt('s', p), expected, `at position ${p}`)
  }
})
