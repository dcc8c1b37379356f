// Reads in a client process: the owner sends the log's and streams' events with their data and
// metadata as stored bytes, and the client decodes them. A client reads what the owner reads
// (data, metadata or none, null data, tags, sealed personal fields opened); an event whose
// stored data does not decode fails the client's read with ANNALS_CORRUPT, as the owner's.
import t from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { open, type Annals } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { rewriteChunk } from './helpers/records.js'

const personal = { subject: 'userId', fields: ['email'] }

/** Every read the test compares, on one database. */
async function reads (db: Annals): Promise<unknown[]> {
  return [
    await collect(db.readAll()),
    await collect(db.readAll({ backwards: true, limit: 7 })),
    await collect(db.readAll({ types: ['Tagged'] })),
    await collect(db.readStream('user-1')),
    await collect(db.readStream('plain', { from: 1, to: 3 })),
    await collect(db.readStream('plain', { backwards: true }))
  ]
}

t.test('a client reads what the owner reads', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  let db = await open(path, { personalData: { UserRegistered: personal } })
  for (let i = 0; i < 40; i++) await db.append(`user-${i % 3}`, { type: 'UserRegistered', data: { userId: `user-${i % 3}`, email: `u${i}@example.com`, n: i } })
  await db.append('plain', [
    { type: 'Nothing', data: null },
    { type: 'Meta', data: { a: [1, 2, { b: 'c' }] }, metadata: { by: 'test', at: 3 } },
    { type: 'Tagged', data: 'a string', tags: ['t:1', 't:2'] },
    { type: 'Tagged', data: 12.5, metadata: {} },
    { type: 'Binary', data: { bytes: new Uint8Array([1, 2, 3]) } }
  ])
  await db.shred('user-2')
  const owners = await reads(db)
  await db.close()

  const owner = await startChild('hold-open.mjs', [path])
  t.teardown(async () => { await kill(owner) })
  db = await open(path, { personalData: { UserRegistered: personal } })
  t.teardown(async () => { await db.close() })
  t.equal(db.role, 'client')
  const clients = await reads(db)
  t.same(clients, owners, 'the same events, data and metadata, personal fields opened or redacted')
  t.ok((clients[0] as Array<{ data: { email?: string } }>).some(e => e.data?.email === 'u1@example.com'), 'a sealed field opened in the client')
})

t.test('an event whose stored data does not decode fails a client\'s read with ANNALS_CORRUPT', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  let db = await open(path)
  // one batch each: a chunk of the log each
  for (let n = 0; n < 3; n++) await db.append('s', { type: 'A', data: { n } })
  await db.close()
  // a string whose length runs past the data: the chunk's checksum is right, the data does not decode
  const level = new ClassicLevel(path)
  await rewriteChunk(level as never, 1, (_stream, _revision, e) => ({ ...e, data: Buffer.from([0xdb, 0xff]) }))
  await level.close()

  const owner = await startChild('hold-open.mjs', [path])
  t.teardown(async () => { await kill(owner) })
  db = await open(path)
  t.teardown(async () => { await db.close() })
  t.equal(db.role, 'client')
  await t.rejects(collect(db.readAll()), { code: 'ANNALS_CORRUPT', message: /position 1/ })
  await t.rejects(collect(db.readAll({ types: ['A'] })), { code: 'ANNALS_CORRUPT', message: /position 1/ })
  t.same((await collect(db.readAll({ limit: 1 }))).map(e => e.data), [{ n: 0 }], 'what comes before still reads')
})
