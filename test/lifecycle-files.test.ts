// After a scavenge, no byte of a removed event is left in the database's files. Each event's
// data carries a unique random marker, which aggregates' snapshots and a projection's view
// history copy too; the files (table files, write-ahead logs de-framed, everything in the
// folder) are then read raw.
//
// LevelDB compresses table files with Snappy, which could hide a marker (a repeat of 4 bytes or
// more is written as a copy of the earlier bytes). So the check is first shown able to fail:
// before the scavenge, with everything moved into table files, every marker is found there.
import t from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { defineAggregate, defineProjection, open, type Annals } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { marker, scanMarkers } from './helpers/scan.js'

interface Data { marker: string }

const Markers = defineAggregate<string[]>({
  name: 'markers',
  initial: () => [],
  evolve: (state, event) => [...state, (event.data as Data).marker],
  snapshotEvery: 4
})

// the last marker of each stream; a deleted or tombstoned stream's key goes (the view reacts to
// the system events: a scavenge removes view history, not the view itself)
const Last = defineProjection<string>({
  name: 'last',
  mode: 'inline',
  async handle (event, view) {
    if (event.type === '$StreamDeleted' || event.type === '$StreamTombstoned') view.del((event.data as { stream: string }).stream)
    else if (!event.stream.startsWith('$') && !event.stream.startsWith('old-')) view.put(event.stream, (event.data as Data).marker)
  }
})

/** Appends `n` events with markers to `stream`; returns the markers. */
async function fill (db: Annals, stream: string, n: number, batch = 1): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i += batch) {
    const events = Array.from({ length: Math.min(batch, n - i) }, () => {
      const m = marker()
      out.push(m)
      return { type: 'Marked', data: { marker: m }, tags: [`t:${stream}`] }
    })
    await db.append(stream, events)
  }
  return out
}

t.test('after a scavenge, the files hold no marker of a removed event, and every marker of the others', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  let db = await open(path)
  await db.project(Last)
  const removed = new Set<string>()
  const kept = new Set<string>()
  const add = (set: Set<string>, list: string[]): void => { for (const m of list) set.add(m) }

  for (let i = 0; i < 4; i++) add(kept, await fill(db, `keep-${i}`, 30))
  add(removed, await fill(db, 'del-0', 30))
  add(removed, await fill(db, 'del-1', 30))
  add(removed, await fill(db, 'tomb-0', 30))
  const trunc = await fill(db, 'trunc-0', 40)
  add(removed, trunc.slice(0, 25))
  add(kept, trunc.slice(25))
  const ret = await fill(db, 'ret-0', 40)
  add(removed, ret.slice(0, 32))
  add(kept, ret.slice(32))
  // several blocks of 1,024 events: the first ones are dropped whole
  const big = await fill(db, 'big', 3000, 100)
  add(removed, big.slice(0, 2500))
  add(kept, big.slice(2500))
  for (let i = 0; i < 2; i++) add(removed, await fill(db, `old-${i}`, 20))
  for (const stream of ['keep-0', 'del-0', 'tomb-0', 'trunc-0', 'ret-0', 'big', 'old-0']) await db.load(Markers, stream)
  await new Promise(resolve => setTimeout(resolve, 10))

  await db.deleteStream('del-0')
  await db.deleteStream('del-1')
  add(kept, await fill(db, 'del-0', 5)) // re-created after its deletion
  await db.tombstoneStream('tomb-0')
  await db.truncateStream('trunc-0', { before: 25 })
  await db.truncateStream('big', { before: 2500 })
  await db.setStreamMetadata('ret-0', { maxCount: 8 })
  await db.setStreamMetadata('old-*', { maxAge: 1 })
  const reads = await collect(db.readAll())
  t.same(new Set(reads.filter(e => !e.stream.startsWith('$')).map(e => (e.data as Data).marker)), kept, 'what reads is exactly what is kept')
  await db.close()

  // LevelDB moves its write-ahead log into a table file when it opens: everything is in Snappy-compressed tables now
  const level = new ClassicLevel(path)
  await level.open()
  await level.close()
  const before = scanMarkers(path, new Set([...removed, ...kept]))
  t.equal([...removed].filter(m => before.has(m)).length, removed.size, `before the scavenge, all ${removed.size} markers of the events to remove are found in the files: the scan can see them`)
  t.equal([...kept].filter(m => before.has(m)).length, kept.size)

  db = await open(path)
  await db.project(Last)
  const report = await db.scavenge()
  t.equal(report.removed, removed.size, `the scavenge removed ${report.removed} events`)
  t.ok(report.snapshots > 0 && report.history > 0, `and ${report.snapshots} snapshots, ${report.history} changes of view history`)
  t.same(await collect(db.readAll()), reads, 'every read gives what it gave')
  await db.close()

  const after = scanMarkers(path, new Set([...removed, ...kept]))
  t.same([...removed].filter(m => after.has(m)), [], 'after the scavenge, no marker of a removed event is in the files')
  t.equal([...kept].filter(m => after.has(m)).length, kept.size, 'every marker of the others still is')
})
