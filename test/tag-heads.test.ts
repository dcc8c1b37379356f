// Tags' heads (src/backend/level/tags.ts): the last position of an event with each tag, which
// answers an append's condition on tags no event after its `after` carries without scanning the
// index. A database made before the heads gets them at open; a scavenge leaves a head past the
// tag's last entry, and conditions then scan as before; a head behind its entries is found by
// verify, and a damaged one fails a condition with ANNALS_CORRUPT rather than letting it pass.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import { open, type Annals } from '../src/index.js'
import { TAG_HEADS_KEY, tagHeadKey } from '../src/backend/level/tags.js'
import { Space, spaceEnd, spaceStart, u64 } from '../src/storage/keys.js'
import { tempDir } from './helpers/backends.js'
import { verifyFolder } from './helpers/verify.js'

const claim = (tag: string, after?: number): { condition: { failIfEventsMatch: Array<{ tags: string[] }>, after?: number } } =>
  ({ condition: { failIfEventsMatch: [{ tags: [tag] }], ...(after === undefined ? {} : { after }) } })

/** Runs `change` on the database's LevelDB itself, closed to annals. */
async function raw (path: string, change: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  try {
    await change(db)
  } finally {
    await db.close()
  }
}

/** A log of tagged events: `photo:<i>` on each, `user:<i % 3>` on each, over 30 events. */
async function build (path: string): Promise<void> {
  const db = await open(path)
  await fill(db)
  await db.close()
}

async function fill (db: Annals): Promise<void> {
  for (let i = 0; i < 30; i++) await db.append(`album-${i % 3}`, { type: 'PhotoAdded', data: i, tags: [`photo:${i}`, `user:${i % 3}`] })
}

/** A folder holding the log of `build`, removed after the test. */
async function built (t: Test): Promise<string> {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  await build(path)
  return path
}

/** What conditions on the log of `build` answer: each must fail or pass as the log says. */
async function conditionsHold (t: Test, db: Annals, label: string): Promise<void> {
  await t.rejects(db.append('x', { type: 'PhotoAdded' }, claim('photo:7')), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 7 }, `${label}: an old claim conflicts`)
  await t.rejects(db.append('x', { type: 'PhotoAdded' }, claim('user:1', 20)), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 22 }, `${label}: a tag with events after \`after\``)
  t.ok(await db.append('x', { type: 'PhotoAdded' }, claim('user:1', 28)), `${label}: nothing of the tag after \`after\``)
  t.ok(await db.append('x', { type: 'PhotoAdded', tags: ['photo:new'] }, claim('photo:new')), `${label}: a new claim passes`)
  await t.rejects(db.append('x', { type: 'PhotoAdded' }, claim('photo:new')), { code: 'ANNALS_APPEND_CONDITION_FAILED' }, `${label}: and then conflicts`)
}

t.test('a database made before the heads gets them at open, and its conditions hold', async t => {
  const path = await built(t)
  // as a database of before the heads: no head and no marker
  await raw(path, async db => {
    const keys = await db.keys({ gte: spaceStart(Space.tagHeads), lt: spaceEnd(Space.tagHeads) }).all()
    t.equal(keys.length, 33, 'each tag had its head')
    await db.batch([...keys.map(key => ({ type: 'del' as const, key })), { type: 'del', key: TAG_HEADS_KEY }])
  })
  t.match((await verifyFolder(path)).problems, [{ check: 'tags', message: /marker/ }], 'verify says the heads are missing')
  const db = await open(path)
  await db.close()
  await raw(path, async db => {
    t.same(db.getSync(tagHeadKey('user:1')), u64(28), 'rebuilt: the last position of the tag')
    t.same(db.getSync(tagHeadKey('photo:4')), u64(4))
    t.not(db.getSync(TAG_HEADS_KEY), undefined, 'and the marker')
  })
  t.same((await verifyFolder(path)).problems, [], 'verify finds nothing')
  const again = await open(path)
  await conditionsHold(t, again, 'rebuilt')
  await again.close()
})

t.test('a head past the last entry of its tag (a scavenge leaves it) makes conditions scan, and they still hold', async t => {
  const path = await built(t)
  const db = await open(path)
  await db.append('gone', { type: 'PhotoAdded', tags: ['photo:gone', 'user:1'] })
  await db.deleteStream('gone')
  await db.scavenge()
  // the deleted claim no longer counts, though its tag's head still says where it was
  t.ok(await db.append('x', { type: 'PhotoAdded', tags: ['photo:gone'] }, claim('photo:gone')), 'the scavenged claim does not conflict')
  await t.rejects(db.append('y', { type: 'PhotoAdded' }, claim('photo:gone')), { code: 'ANNALS_APPEND_CONDITION_FAILED' }, 'the new one does')
  await db.close()
  t.same((await verifyFolder(path)).problems, [], 'verify finds nothing')
})

t.test('a head behind its entries is found by verify; a damaged head fails a condition as corrupt', async t => {
  const path = await built(t)
  await raw(path, async db => { await db.put(tagHeadKey('user:2'), u64(3)) })
  t.match((await verifyFolder(path)).problems, [{ check: 'tags', message: /user:2.*before its entry at position 29/ }])
  await raw(path, async db => { await db.put(tagHeadKey('user:2'), Buffer.from('bad')) })
  t.match((await verifyFolder(path)).problems, [{ check: 'tags', message: /damaged/ }])
  const db = await open(path)
  await t.rejects(db.append('x', { type: 'PhotoAdded' }, claim('user:2')), { code: 'ANNALS_CORRUPT' })
  t.ok(await db.append('x', { type: 'PhotoAdded' }, claim('photo:new')), 'other tags are answered')
  await db.close()
})

t.test('on memory-level too, a database made before the heads gets them at open', async t => {
  const level = new MemoryLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' })
  t.teardown(async () => { await level.close() })
  const first = await open({ level })
  await fill(first)
  await first.close()
  const keys = await level.keys({ gte: spaceStart(Space.tagHeads), lt: spaceEnd(Space.tagHeads) }).all()
  t.equal(keys.length, 33, 'each tag had its head')
  await level.batch([...keys.map(key => ({ type: 'del' as const, key })), { type: 'del', key: TAG_HEADS_KEY }])
  const db = await open({ level })
  t.same(await level.get(tagHeadKey('user:1')), u64(28), 'rebuilt: the last position of the tag')
  t.not(await level.get(TAG_HEADS_KEY), undefined, 'and the marker')
  await conditionsHold(t, db, 'rebuilt on memory-level')
  await db.close()
})
