// Damaged storage: reads fail with ANNALS_CORRUPT naming the position, or read the original
// from the streams' copies where those are whole; a database of another format, or that is not
// an annals database, is refused before anything is read or written.
import t from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import { pack } from 'msgpackr'
import { logKey } from '../src/backend/level/chunk.js'
import { open, type AnyLevel, type RecordedEvent } from '../src/index.js'
import { streamKey } from '../src/storage/keys.js'
import { collect, tempDir } from './helpers/backends.js'
import { rewriteChunk } from './helpers/records.js'

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

/**
 * Runs `damage` on the raw database under a fresh annals with three events (one chunk each,
 * copied into stream 's's block at close), then reopens; `original` are the events before.
 */
async function damaged (where: 'memory' | 'disk', damage: (level: AnyLevel) => Promise<void>): Promise<{ db: Awaited<ReturnType<typeof open>>, original: RecordedEvent[], done: () => Promise<void> }> {
  const fill = async (db: Awaited<ReturnType<typeof open>>): Promise<RecordedEvent[]> => {
    for (const type of ['A', 'B', 'C']) await db.append('s', { type, data: { type } })
    return await db.readAll().toArray()
  }
  if (where === 'memory') {
    const level = new MemoryLevel()
    let db = await open({ level })
    const original = await fill(db)
    await db.close()
    await damage(level as unknown as AnyLevel)
    db = await open({ level })
    return { db, original, done: async () => { await db.close(); await level.close() } }
  }
  const { dir, remove } = tempDir()
  const path = join(dir, 'db')
  let db = await open(path)
  const original = await fill(db)
  await db.close()
  const level = new ClassicLevel(path)
  await damage(level as unknown as AnyLevel)
  await level.close()
  db = await open(path).catch((err: unknown) => { remove(); throw err })
  return { db, original, done: async () => { await db.close(); remove() } }
}

for (const where of ['memory', 'disk'] as const) {
  t.test(`${where}: a record that fails its checksum`, async t => {
    const { db, original, done } = await damaged(where, async level => {
      await level.put(logKey(1), Buffer.from([0xc1, 0xff, 0x00, 0x01, 0x02]), BUFFERS)
    })
    t.teardown(done)
    await t.rejects(collect(db.readAll()), { code: 'ANNALS_CORRUPT', message: /position 1/ })
    await t.rejects(collect(db.readAll({ backwards: true })), { code: 'ANNALS_CORRUPT', message: /position 1/ })
    t.same(await collect(db.readAll({ limit: 1 })), original.slice(0, 1), 'what comes before still reads')
    t.same(await collect(db.readStream('s')), original, 'the stream reads from its own copy, which is whole')
  })

  t.test(`${where}: an event that does not decode, under a valid checksum`, async t => {
    const { db, done } = await damaged(where, async level => {
      await rewriteChunk(level as never, 1, (_s, _r, e) => ({ ...e, data: Buffer.from([0xdb, 0xff]) }))
    })
    t.teardown(done)
    await t.rejects(collect(db.readAll({ from: 1 })), { code: 'ANNALS_CORRUPT', message: /position 1/ })
  })

  t.test(`${where}: a damaged last record stops open, which needs its commit time`, async t => {
    await t.rejects(damaged(where, async level => {
      await level.put(logKey(2), Buffer.from('garbage'), BUFFERS)
    }), { code: 'ANNALS_CORRUPT', message: /position 2/ })
  })

  t.test(`${where}: a missing record is a gap, not a shorter log`, async t => {
    const { db, original, done } = await damaged(where, async level => {
      await level.del(logKey(1), BUFFERS)
    })
    t.teardown(done)
    await t.rejects(collect(db.readAll()), { code: 'ANNALS_CORRUPT', message: /position 1 is damaged: it is missing/ })
    await t.rejects(collect(db.readAll({ backwards: true })), { code: 'ANNALS_CORRUPT', message: /position 1/ })
    await t.rejects(collect(db.readAll({ types: ['C'] })), { code: 'ANNALS_CORRUPT', message: /position 1/ }, 'a filter does not hide it')
    t.same(await collect(db.readStream('s')), original)
  })

  t.test(`${where}: a damaged or missing block of a stream`, async t => {
    const flipped = await damaged(where, async level => {
      const value = await level.get(streamKey('s', 0), BUFFERS) as Buffer
      value[value.length - 3] = value[value.length - 3]! ^ 0x40
      await level.put(streamKey('s', 0), value, BUFFERS)
    })
    await t.rejects(collect(flipped.db.readStream('s')), { code: 'ANNALS_CORRUPT', message: /stream 's'/ })
    t.same(await collect(flipped.db.readAll()), flipped.original, 'the log itself is whole')
    await flipped.done()
    const missing = await damaged(where, async level => { await level.del(streamKey('s', 0), BUFFERS) })
    await t.rejects(collect(missing.db.readStream('s')), { code: 'ANNALS_CORRUPT', message: /revision 0 is missing/ })
    await t.rejects(collect(missing.db.readStream('s', { backwards: true })), { code: 'ANNALS_CORRUPT', message: /revision 2 is missing/ })
    await missing.done()
  })
}

t.test('a database of a newer format is refused, and nothing is written', async t => {
  const level = new MemoryLevel()
  await level.put(Buffer.from('Mformat') as never, pack(99) as never, BUFFERS)
  await t.rejects(open({ level }), { code: 'ANNALS_UNSUPPORTED_FORMAT' })
  t.same(await level.keys(BUFFERS).all(), [Buffer.from('Mformat')], 'nothing was written')
  await level.close()
})

t.test('events without a format marker are damage, and another program\'s data is not a database', async t => {
  const level = new MemoryLevel()
  let db = await open({ level })
  await db.append('s', { type: 'A' })
  await db.close()
  await level.del(Buffer.from('Mformat') as never, BUFFERS)
  await t.rejects(open({ level }), { code: 'ANNALS_CORRUPT' })
  await level.close()
  const foreign = new MemoryLevel()
  await foreign.put('user:1', 'ada')
  await t.rejects(open({ level: foreign }), { code: 'ANNALS_NOT_A_DATABASE' })
  t.same(await foreign.keys().all(), ['user:1'], 'nothing was written')
  await foreign.close()
  db = await open({ level: new MemoryLevel() })
  t.equal(db.status, 'open')
  await db.close()
})
