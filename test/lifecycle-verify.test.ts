// Verify and time travel on databases whose streams lost events (deleted, tombstoned,
// truncated, expired by count and age): `annals verify` passes before and after a scavenge
// (which drops the streams' blocks below their first readable revision) and still finds a
// flipped byte afterwards; loads at a position or a moment give the same answers before and
// after the scavenge, including for streams whose first blocks are gone.
import t from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { defineAggregate, open, type Annals } from '../src/index.js'
import { parseChunk } from '../src/backend/level/chunk.js'
import { Space, spaceEnd, spaceStart } from '../src/storage/keys.js'
import { collect, tempDir } from './helpers/backends.js'
import { verifyFolder } from './helpers/verify.js'
import { annals } from './helpers/cli.js'

const Trail = defineAggregate<number[]>({ name: 'trail', initial: () => [], evolve: (s, e) => [...s, e.position] })

/** Builds a database where every rule removes something, blocks of several streams among them. */
async function build (path: string): Promise<void> {
  const db = await open(path)
  await db.append('other', { type: 'O' })
  // a long stream: its blocks hold 1,024 events, so a truncation at 2,500 drops two of them
  for (let i = 0; i < 3; i++) await db.append('big', Array.from({ length: 1000 }, (_, j) => ({ type: 'T', data: i * 1000 + j })))
  for (let i = 0; i < 60; i++) await db.append(`s-${i % 6}`, { type: 'T', data: i, tags: [`n:${i % 2}`] })
  await db.truncateStream('big', { before: 2500 })
  await db.deleteStream('s-0')
  await db.append('s-0', { type: 'T', data: 'again' })
  await db.tombstoneStream('s-1')
  await db.truncateStream('s-2', { before: 4 })
  await db.setStreamMetadata('s-3', { maxCount: 3 })
  await db.setStreamMetadata('s-*', { maxCount: 5 })
  await db.close()
}

/** Everything a load at each position and at a few moments answers. */
async function travel (db: Annals): Promise<unknown[]> {
  const head = await db.head()
  const out: unknown[] = []
  const all = await collect(db.readAll())
  // every distinct commit time would be thousands of loads: a sample, with each rule's edges
  const times = [0, ...all.filter((_, i) => i % 97 === 0 || i > all.length - 12).map(e => e.time), head.time + 1]
  for (const stream of ['big', 'other', 's-0', 's-1', 's-2', 's-3', 's-4']) {
    for (const position of [-1, 0, 1, 2, 500, 1500, 2499, 2500, 2600, 3000, 3001, 3010, 3060, head.position]) {
      out.push([stream, position, await db.load(Trail, stream, { at: { position } })])
    }
    for (const time of times) out.push([stream, time, await db.load(Trail, stream, { at: { time } })])
  }
  return out
}

t.test('verify passes before and after a scavenge; loads at positions and times agree', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  await build(path)
  t.same((await verifyFolder(path)).problems, [], 'before the scavenge')

  let db = await open(path)
  const before = await travel(db)
  const { removed } = await db.scavenge()
  t.ok(removed > 2500, `the scavenge removed ${removed} events`)
  t.same(await travel(db), before, 'loads at positions and times give what they gave before the scavenge')
  await db.close()
  t.same((await verifyFolder(path)).problems, [], 'after the scavenge')
  const cli = await annals(['verify', path])
  t.equal(cli.code, 0, 'annals verify exits with 0')

  db = await open(path)
  t.same(await travel(db), before, 'and after reopening')
  t.same((await collect(db.readStream('big'))).map(e => e.data), Array.from({ length: 500 }, (_, i) => 2500 + i))
  await db.close()
})

t.test('after a scavenge, verify still finds a flipped byte in the log or in a stream\'s blocks', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const source = join(dir, 'db')
  await build(source)
  const db = await open(source)
  await db.scavenge()
  await db.close()

  for (const space of [Space.log, Space.streams] as const) {
    const level = new ClassicLevel<Buffer, Buffer>(source, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await level.open()
    // the last record of the space that still holds an event (a chunk or block not emptied)
    let target: [Buffer, Buffer] | undefined
    for await (const [key, value] of level.iterator({ gte: spaceStart(space), lt: spaceEnd(space), reverse: true })) {
      if (space !== Space.log || parseChunk(key, value).spans.some((s, i) => i % 2 === 1 && s !== parseChunk(key, value).spans[i - 1])) {
        target = [key, value]
        break
      }
    }
    t.ok(target !== undefined)
    const [key, value] = target!
    const flipped = Buffer.from(value)
    flipped[flipped.length - 3]! ^= 0x10
    await level.put(key, flipped)
    await level.close()
    const report = await verifyFolder(source)
    t.ok(report.problems.some(p => p.check === (space === Space.log ? 'records' : 'streams')), `a flip in space ${String.fromCharCode(space)} is found`)
    // put it back
    const again = new ClassicLevel<Buffer, Buffer>(source, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await again.open()
    await again.put(key, value)
    await again.close()
    t.same((await verifyFolder(source)).problems, [], 'and the database verifies again once it is put back')
  }
})
