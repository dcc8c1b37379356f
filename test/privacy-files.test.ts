// After a shred, no trace of the subject's personal data is left in any file of the database:
// not in events, indexes, LevelDB's write-ahead log, its table files or its MANIFEST, nor the
// subject's key in the key store's files. Table files are written uncompressed here (the event
// database's by this test, the key store's always), so that Snappy cannot hide a leak.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { LevelKeyStore, defineAggregate, defineProjection, open, type Annals, type Subscription } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { scan } from './helpers/scan.js'

const personal = { UserRegistered: { subject: 'userId', fields: ['email', 'name', 'address.street'] } }
const marker = (label: string): string => `${label}-${randomBytes(8).toString('hex')}`

interface Setup { db: Annals, level: ClassicLevel, keyStore: LevelKeyStore }

// a view that copies the personal fields, with its history (for time travel)
const Contacts = defineProjection<{ email: unknown, name: unknown }>({
  name: 'contacts', mode: 'inline', types: ['UserRegistered'],
  handle (event, view) { view.put(event.data.userId, { email: event.data.email, name: event.data.name }) }
})

async function start (dir: string, masterKey?: Buffer): Promise<Setup> {
  const level = new ClassicLevel(join(dir, 'events'), { compression: false })
  const keyStore = new LevelKeyStore(join(dir, 'keys'), masterKey === undefined ? {} : { masterKey })
  const db = await open({ level }, { keyStore, personalData: personal })
  await db.project(Contacts)
  return { db, level, keyStore }
}

async function stop (s: Setup): Promise<void> {
  await s.db.close()
  await s.level.close()
  await s.keyStore.close()
}

for (const where of ['flushed to table files', 'still in the memtable'] as const) {
  t.test(`a shred leaves no trace: data ${where}, with a subscription and an iterator open across it`, async t => {
    const { dir, remove } = tempDir('annals-shred-')
    t.teardown(remove)
    const gone = { email: marker('email'), name: marker('name'), street: marker('street') }
    const kept = { email: marker('keptemail'), name: marker('keptname'), street: marker('keptstreet') }
    const plain = marker('city')
    let s = await start(dir)
    for (const [id, m] of [['user-gone', gone], ['user-kept', kept]] as const) {
      await s.db.append(id, { type: 'UserRegistered', data: { userId: id, email: m.email, name: m.name, address: { street: m.street, city: plain } } })
    }
    for (let i = 0; i < 50; i++) await s.db.append('user-gone', { type: 'PhotoAdded', data: { photoId: `p${i}`, title: plain } })
    // a snapshot of an aggregate that copies the personal fields into its state
    const Profile = defineAggregate({
      name: 'profile', snapshotEvery: 10,
      initial: () => ({ email: null as unknown, name: null as unknown, photos: 0 }),
      evolve: (st, e) => e.type === 'UserRegistered' ? { ...st, email: e.data.email, name: e.data.name } : { ...st, photos: st.photos + 1 }
    })
    t.equal((await s.db.load(Profile, 'user-gone')).state.email, gone.email)
    if (where === 'flushed to table files') {
      // LevelDB turns its write-ahead log into a table file when it opens
      await stop(s)
      s = await start(dir)
    }
    const goneKey = (await s.keyStore.get('user-gone'))!.key
    const keptKey = (await s.keyStore.get('user-kept'))!.key
    const needles = (): Record<string, Buffer> => ({
      ...Object.fromEntries(Object.entries({ ...gone, ...Object.fromEntries(Object.entries(kept).map(([k, v]) => [`kept ${k}`, v])) }).map(([k, v]) => [k, Buffer.from(v)])),
      plain: Buffer.from(plain),
      'key of user-gone': Buffer.from(goneKey),
      'key of user-kept': Buffer.from(keptKey)
    })
    const before = scan(dir, needles()).map(f => f.needle)
    t.ok(before.includes('plain'), 'positive control: a plain field is found')
    t.ok(before.includes('key of user-gone'), 'positive control: the key store holds the key')
    t.same(before.filter(n => !['plain', 'key of user-gone', 'key of user-kept'].includes(n)), [], 'no personal field is ever stored in plain')
    if (where === 'flushed to table files') t.ok(scan(dir, { plain: Buffer.from(plain) }).some(f => f.file.endsWith('.ldb')), 'the events are in table files')

    // a subscription and a read in progress across the shred
    const seen: unknown[] = []
    const sub: Subscription = s.db.subscribe({}, e => { seen.push(e.data) })
    await sub.caughtUp()
    const reading = s.db.readAll()
    await reading.next()

    await s.db.shred('user-gone')
    const after = scan(dir, needles()).map(f => f.needle)
    t.notOk(after.includes('key of user-gone'), 'the key left every file')
    t.ok(after.includes('key of user-kept'), 'the other key stays')
    const [first] = await collect(s.db.readStream('user-gone'))
    t.same(first!.data, { userId: 'user-gone', email: null, name: null, address: { street: null, city: plain } })
    t.same((await s.db.load(Profile, 'user-gone')).state, { email: null, name: null, photos: 50 })
    const contacts = await s.db.project(Contacts)
    t.same(await contacts.get('user-gone'), { email: null, name: null })
    t.same(await (await contacts.at({ position: 0 })).get('user-gone'), { email: null, name: null })
    t.same(await contacts.get('user-kept'), { email: kept.email, name: kept.name })
    await reading.return?.()
    await stop(s)
    const closed = scan(dir, needles()).map(f => f.needle)
    t.notOk(closed.includes('key of user-gone'), 'and after close')
    t.same(closed.filter(n => !['plain', 'key of user-kept'].includes(n)), [], 'nothing of the subject anywhere')
    s = await start(dir)
    t.equal((await collect(s.db.readStream('user-kept')))[0]!.data.email, kept.email, 'the other subject reads as before')
    await stop(s)
  })
}

t.test('with a master key, no subject key is ever stored in plain', async t => {
  const { dir, remove } = tempDir('annals-master-')
  t.teardown(remove)
  const masterKey = randomBytes(32)
  const s = await start(dir, masterKey)
  await s.db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: marker('e'), name: 'n', address: { street: 's' } } })
  const key = (await s.keyStore.get('user-1'))!.key
  await stop(s)
  t.same(scan(dir, { key: Buffer.from(key), master: masterKey }), [])
})
