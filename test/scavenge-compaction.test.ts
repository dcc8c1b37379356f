// The compaction that ends a scavenge on classic-level: it rewrites the key ranges the scavenge
// deleted from, not the whole database (the blocks of the streams that stay are left alone), and
// a compaction that did not happen (the process ended first) is done by the next scavenge's.
// On memory-level, which has no compaction, the scan is reopened at the same pace all the same.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import { open, type Annals } from '../src/index.js'
import { Space } from '../src/storage/keys.js'
import { scavengePace } from '../src/backend/level/scavenge.js'
import { tempDir } from './helpers/backends.js'
import { marker, scanMarkers } from './helpers/scan.js'

type Level = ClassicLevel<Buffer, Buffer>

/** A classic-level database whose compactRange calls are recorded, and fail while `failing`. */
function spied (path: string): { level: Level, ranges: Array<[Buffer, Buffer]>, failing: { on: boolean } } {
  const level = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  const ranges: Array<[Buffer, Buffer]> = []
  const failing = { on: false }
  const real = level.compactRange.bind(level)
  level.compactRange = (async (start: Buffer, end: Buffer, options: object) => {
    if (failing.on) throw new Error('the process ended here')
    ranges.push([Buffer.from(start), Buffer.from(end)])
    await real(start, end, options)
  }) as typeof level.compactRange
  return { level, ranges, failing }
}

/** Markers in streams keep-0..3 and del-0..1, interleaved; del-0 and del-1 deleted. */
async function build (db: Annals): Promise<{ removed: Set<string>, kept: Set<string> }> {
  const removed = new Set<string>()
  const kept = new Set<string>()
  for (let i = 0; i < 600; i++) {
    const stream = i % 3 === 0 ? `del-${i % 2}` : `keep-${i % 4}`
    const m = marker()
    ;(stream.startsWith('del') ? removed : kept).add(m)
    await db.append(stream, { type: 'Marked', data: { marker: m } })
  }
  await db.deleteStream('del-0')
  await db.deleteStream('del-1')
  return { removed, kept }
}

const streamKeyPrefix = (stream: string): Buffer => Buffer.concat([Buffer.from([Space.streams]), Buffer.from(stream), Buffer.from([0])])
const within = (key: Buffer, [low, high]: [Buffer, Buffer]): boolean => Buffer.compare(low, key) <= 0 && Buffer.compare(key, high) <= 0

/** A spied database in a folder of the test's, opened, with the markers of build() appended. */
async function built (t: Test): Promise<ReturnType<typeof spied> & { path: string, db: Annals, removed: Set<string>, kept: Set<string> }> {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const spy = spied(path)
  const db = await open({ level: spy.level })
  return { ...spy, path, db, ...await build(db) }
}

/** A raw scan of the folder's files: no marker of a removed event, every marker of a kept one. */
function filesHold (t: Test, path: string, { removed, kept }: { removed: Set<string>, kept: Set<string> }): void {
  const found = scanMarkers(path, new Set([...removed, ...kept]))
  t.same([...removed].filter(m => found.has(m)), [], 'no marker of a removed event is in the files')
  t.equal([...kept].filter(m => found.has(m)).length, kept.size, 'every marker of the others is')
}

t.test('a scavenge compacts the ranges it deleted from: not the blocks of the streams that stay', async t => {
  const { path, level, ranges, db, removed, kept } = await built(t)
  t.equal((await db.scavenge()).removed, removed.size)
  await db.close()
  await level.close()
  t.ok(ranges.length > 0, `${ranges.length} ranges compacted`)
  for (let i = 0; i < 4; i++) {
    t.notOk(ranges.some(r => within(streamKeyPrefix(`keep-${i}`), r)), `the blocks of keep-${i} are in no range compacted`)
  }
  t.ok(ranges.some(r => within(streamKeyPrefix('del-0'), r)), 'those of del-0 are')
  filesHold(t, path, { removed, kept })
})

t.test('a compaction that did not happen after a scavenge is done by the next scavenge\'s', async t => {
  const first = await built(t)
  const { path, removed, kept } = first
  let db = first.db
  // from its last batch of the log on, compactions fail: it deletes what it deletes, not compacted
  const stopped = db.scavenge({ onProgress: (done, total) => { if (done === total) first.failing.on = true } })
  await t.rejects(stopped, /the process ended here/, 'the first scavenge ends before its compaction')
  await db.close()
  await first.level.close()

  const second = spied(path)
  db = await open({ level: second.level })
  t.equal((await db.scavenge()).removed, 0, 'the second scavenge has no event left to remove')
  await db.close()
  await second.level.close()
  t.ok(second.ranges.length > 0, 'but it compacts what the first deleted from')
  filesHold(t, path, { removed, kept })
})

t.test('a scavenge compacts the part of the log it rewrote as it goes, not only at its end', async t => {
  const { path, level, ranges, db, removed, kept } = await built(t)
  const pace = scavengePace.batchesPerCompaction
  scavengePace.batchesPerCompaction = 2
  t.teardown(() => { scavengePace.batchesPerCompaction = pace })
  const log = (): number => ranges.filter(([low]) => low[0] === Space.log).length
  let duringScan = 0
  const report = await db.scavenge({ onProgress: (done, total) => { if (done < total) duringScan = Math.max(duringScan, log()) } })
  t.equal(report.removed, removed.size)
  t.ok(duringScan >= 2, `the log compacted ${duringScan} times before the scan reached its end`)
  t.notOk(ranges.slice(ranges.findIndex(([low]) => low[0] !== Space.log && low[0] !== Space.meta)).some(([low]) => low[0] === Space.log),
    'the end compaction of the other ranges does not compact the log again')
  const read = (await db.readAll().toArray()).filter(e => e.type === 'Marked').map(e => (e.data as { marker: string }).marker)
  t.same(read, [...kept], 'every kept event reads, in order')
  await db.close()
  await level.close()
  filesHold(t, path, { removed, kept })
})

t.test('on memory-level (no compactRange), a scan reopened at the same pace reads on where it was', async t => {
  const level = new MemoryLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' })
  const db = await open({ level })
  t.teardown(async () => { await db.close(); await level.close() })
  const { removed, kept } = await build(db)
  const pace = scavengePace.batchesPerCompaction
  scavengePace.batchesPerCompaction = 2
  t.teardown(() => { scavengePace.batchesPerCompaction = pace })
  let batches = 0
  const report = await db.scavenge({ onProgress: () => { batches++ } })
  t.ok(batches > 4, `${batches} batches: the scan was reopened ${Math.floor(batches / 2)} times`)
  t.equal(report.removed, removed.size, 'every removed event removed once')
  const read = (await db.readAll().toArray()).filter(e => e.type === 'Marked').map(e => (e.data as { marker: string }).marker)
  t.same(read, [...kept], 'every kept event reads, in order')
  t.equal((await db.scavenge()).removed, 0, 'a second scavenge finds nothing left')
})
