// Damaged storage: reads fail with ANNALS_CORRUPT naming the position; a database of another
// format is refused before anything is read or written.
import t from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import { pack } from 'msgpackr'
import { open, type AnyLevel } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

function key (tag: string, ...parts: Array<string | number>): Buffer {
  const bytes: Buffer[] = [Buffer.from(tag)]
  for (const p of parts) {
    if (typeof p === 'string') bytes.push(Buffer.from(p), Buffer.from([0]))
    else { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(p)); bytes.push(b) }
  }
  return Buffer.concat(bytes)
}

/** Runs `damage` on the raw database under a fresh annals with three events, then reopens. */
async function damaged (where: 'memory' | 'disk', damage: (level: AnyLevel) => Promise<void>): Promise<{ db: Awaited<ReturnType<typeof open>>, done: () => Promise<void> }> {
  if (where === 'memory') {
    const level = new MemoryLevel()
    let db = await open({ level })
    await db.append('s', [{ type: 'A' }, { type: 'B' }, { type: 'C' }])
    await db.close()
    await damage(level as unknown as AnyLevel)
    db = await open({ level })
    return { db, done: async () => { await db.close(); await level.close() } }
  }
  const { dir, remove } = tempDir()
  const path = join(dir, 'db')
  let db = await open(path)
  await db.append('s', [{ type: 'A' }, { type: 'B' }, { type: 'C' }])
  await db.close()
  const level = new ClassicLevel(path)
  await damage(level as unknown as AnyLevel)
  await level.close()
  db = await open(path).catch((err: unknown) => { remove(); throw err })
  return { db, done: async () => { await db.close(); remove() } }
}

for (const where of ['memory', 'disk'] as const) {
  t.test(`${where}: a record that does not decode`, async t => {
    const { db, done } = await damaged(where, async level => {
      await level.put(key('L', 1), Buffer.from([0xc1, 0xff, 0x00]), BUFFERS)
    })
    t.teardown(done)
    await t.rejects(collect(db.readAll()), { code: 'ANNALS_CORRUPT', message: /position 1/ })
    await t.rejects(collect(db.readStream('s')), { code: 'ANNALS_CORRUPT', message: /position 1/ })
    t.same((await collect(db.readAll({ limit: 1 }))).map(e => e.type), ['A'], 'what comes before still reads')
  })

  t.test(`${where}: a record of the wrong shape`, async t => {
    const { db, done } = await damaged(where, async level => {
      await level.put(key('L', 1), pack({ not: 'a record' }), BUFFERS)
    })
    t.teardown(done)
    await t.rejects(collect(db.readAll({ from: 1 })), { code: 'ANNALS_CORRUPT', message: /position 1/ })
  })

  t.test(`${where}: a damaged last record stops open, which needs its commit time`, async t => {
    await t.rejects(damaged(where, async level => {
      await level.put(key('L', 2), Buffer.from('garbage'), BUFFERS)
    }), { code: 'ANNALS_CORRUPT', message: /position 2/ })
  })

  t.test(`${where}: an index entry pointing at nothing`, async t => {
    const { db, done } = await damaged(where, async level => {
      await level.del(key('L', 0), BUFFERS)
    })
    t.teardown(done)
    await t.rejects(collect(db.readStream('s')), { code: 'ANNALS_CORRUPT', message: /position 0/ })
  })

  t.test(`${where}: a database of a newer format is refused`, async t => {
    const level = new MemoryLevel()
    await level.put(Buffer.from('Mformat') as never, pack(2) as never, BUFFERS)
    await t.rejects(open({ level }), { code: 'ANNALS_UNSUPPORTED_FORMAT' })
    t.same(await level.keys(BUFFERS).all(), [Buffer.from('Mformat')], 'nothing was written')
    await level.close()
  })
}

t.test('events without a format marker are not taken for an empty database', async t => {
  const level = new MemoryLevel()
  let db = await open({ level })
  await db.append('s', { type: 'A' })
  await db.close()
  await level.del(Buffer.from('Mformat') as never, BUFFERS)
  await t.rejects(open({ level }), { code: 'ANNALS_CORRUPT' })
  db = await open({ level: new MemoryLevel() })
  t.equal(db.status, 'open')
  await db.close()
  await level.close()
})
