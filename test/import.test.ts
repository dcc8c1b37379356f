// The import path: events written at their positions, with their times and ids, into an empty
// log. What comes out of the imported log is what went into it, event for event; an
// import that is not a log (gaps, revisions out of order, times going back, ids used twice) is
// refused naming the position, and abort() leaves the log empty.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import type { AnyLevel } from '../src/backend/level/door.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import { Importer, type ImportedEvent } from '../src/log/import.js'
import { MemoryKeyStore, open, type Annals, type RecordedEvent } from '../src/index.js'
import { eachSealed } from '../src/privacy/sealed.js'
import { internalsOf } from '../src/store/internals.js'
import { collect } from './helpers/backends.js'

/** Every stream of a database with its last revision and position, and the time of that event. */
async function listStreams (db: Annals): Promise<unknown[]> {
  return await collect(internalsOf(db).log.backend.streams({ prefix: '', after: undefined, limit: Infinity }))
}

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

async function entries (level: MemoryLevel): Promise<Array<[string, string]>> {
  const all = await (level as unknown as AnyLevel).iterator(BUFFERS).all() as Array<[Buffer, Buffer]>
  return all.map(([k, v]) => [k.toString('hex'), v.toString('hex')])
}

/** A source database: generated and given ids, several streams, metadata, awkward values. */
async function source (): Promise<{ level: MemoryLevel, db: Annals }> {
  const level = new MemoryLevel()
  const db = await open({ level })
  await db.append('a', [{ type: 'Opened', data: { at: new Date(0), bytes: Buffer.from('hi'), big: 2n ** 60n } }, { type: 'Noted', id: 'note-1', metadata: { by: 'ada' } }])
  for (let i = 0; i < 30; i++) await db.append(`s-${i % 7}`, { type: 'Step', data: i })
  await db.append('a', { type: 'Closed', id: 'close-a', data: null })
  return { level, db }
}

async function importAll (db: Annals, events: readonly ImportedEvent[], size = 10, stored?: unknown[]): Promise<Importer> {
  const importer = await Importer.start(internalsOf(db).log, 4 * 1024 * 1024)
  const lines = events.map((event, i) => ({ event, stored: stored === undefined ? undefined : { data: stored[i], digest: internalsOf(db).privacy.digest(event) } }))
  for (let i = 0; i < lines.length; i += size) await importer.add(lines.slice(i, i + size))
  await importer.finish()
  return importer
}

t.test('an imported log is the same log, event for event', async t => {
  const flush = indexSettings.flushEvents
  indexSettings.flushEvents = 8 // blocks written along the way, as in a large import
  t.teardown(() => { indexSettings.flushEvents = flush })
  const a = await source()
  const events = await a.db.readAll().toArray()
  await a.db.close()

  const level = new MemoryLevel()
  let db = await open({ level })
  const importer = await importAll(db, events)
  t.equal(importer.count, events.length)
  t.same(await listStreams(db), await (async () => {
    const again = await open({ level: a.level })
    try { return await listStreams(again) } finally { await again.close() }
  })(), 'the same streams')
  await db.close()

  db = await open({ level })
  t.same(await db.readAll().toArray(), events, 'every event reads back as it was')
  t.same(await db.readStream('a').toArray(), events.filter(e => e.stream === 'a'))
  t.same(await db.readAll({ backwards: true }).toArray(), [...events].reverse())
  t.equal(await db.revision('s-3'), 3)
  // the imported log goes on as any other: new appends, and idempotent retries by the old ids
  t.match(await db.append('a', { type: 'Closed', id: 'close-a', data: null }), { revision: 2, position: events.length - 1 })
  t.match(await db.append('a', { type: 'Reopened' }), { revision: 3, position: events.length })
  await db.close()
  await a.level.close()
  await level.close()
})

t.test('what is not a log is refused, naming the position, and abort empties the log', async t => {
  const a = await source()
  const events = await a.db.readAll().toArray()
  await a.db.close()
  await a.level.close()
  const cases: Array<[string, (e: RecordedEvent[]) => RecordedEvent[], RegExp, string]> = [
    ['positions going back', e => e.map(x => x.position === 5 ? { ...x, position: 3 } : x), /position 3 comes where position 5 or a later one/, 'ANNALS_INVALID_EVENT'],
    ['a revision skipped', e => e.map(x => x.stream === 's-2' && x.revision === 1 ? { ...x, revision: 2 } : x), /has revision 2 of stream 's-2', whose next revision is 1/, 'ANNALS_INVALID_EVENT'],
    ['time going back', e => e.map(x => x.position === 9 ? { ...x, time: 0 } : x), /position 9 has time 0/, 'ANNALS_INVALID_EVENT'],
    ['an id used twice', e => e.map(x => x.position === 20 ? { ...x, id: 'note-1' } : x), /position 20 has the id 'note-1' of the event at position 1/, 'ANNALS_DUPLICATE_ID'],
    ['an id used twice in a batch', e => e.map(x => x.position === 21 ? { ...x, id: events[20]!.id } : x), /position 21 has the id/, 'ANNALS_DUPLICATE_ID'],
    ['a bad stream name', e => e.map(x => x.position === 3 ? { ...x, stream: '' } : x), /position 3: The stream name must not be empty/, 'ANNALS_INVALID_EVENT'],
    ['a bad type', e => e.map(x => x.position === 3 ? { ...x, type: '' } : x), /position 3: Event 0's type must not be empty/, 'ANNALS_INVALID_EVENT']
  ]
  for (const [name, change, message, code] of cases) {
    const level = new MemoryLevel()
    const db = await open({ level })
    const importer = await Importer.start(internalsOf(db).log, 4 * 1024 * 1024)
    const changed = change(events)
    let failure: unknown
    try {
      for (let i = 0; i < changed.length; i += 10) await importer.add(changed.slice(i, i + 10).map(event => ({ event })))
    } catch (err) {
      failure = err
    }
    t.match(failure, { code, message }, name)
    await importer.abort()
    await db.close()
    t.same((await entries(level)).map(([k]) => Buffer.from(k, 'hex').toString('latin1')), ['Mformat', 'Mtag-heads'], `${name}: nothing is left but the format marker and the tags' heads' marker`)
    await level.close()
  }
  const level = new MemoryLevel()
  const db = await open({ level })
  await db.append('x', { type: 'T' })
  await t.rejects(Importer.start(internalsOf(db).log, 1000), TypeError, 'a log with events is refused')
  await db.close()
  await level.close()
})

t.test('personal fields sealed again under the new database\'s keys; shredded ones stay unreadable', async t => {
  const personalData = { UserRegistered: { subject: 'userId', fields: ['email', 'address.street'] } }
  const level = new MemoryLevel()
  const db = await open({ level }, { keyStore: new MemoryKeyStore(), personalData })
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com', address: { street: '1 Main St', city: 'Turin' } } })
  await db.append('user-2', { type: 'UserRegistered', data: { userId: 'user-2', email: 'b@example.com', address: { street: '2 Main St', city: 'Rome' } } })
  await db.shred('user-2')
  const raw = await collect({ [Symbol.asyncIterator]: async function * () {
    const chunks = internalsOf(db).log.chunks({ from: undefined, to: undefined, backwards: false, limit: Infinity }, undefined, true)
    for (let c = await chunks.next(); c.length > 0; c = await chunks.next()) yield * c
  } })
  const personal = raw.map(e => {
    const fields: Record<string, string> = {}
    eachSealed(e.data, s => { fields[s.path] = s.subject })
    return fields
  })
  const events = await db.readAll().toArray()
  t.same(events[1]!.redacted, ['email', 'address.street'])
  await db.close()

  const target = new MemoryLevel()
  const keyStore = new MemoryKeyStore()
  let copy = await open({ level: target }, { keyStore })
  const sealed = await internalsOf(copy).privacy.reseal(events.map((event, i) => ({ event, personal: personal[i]!, redacted: event.redacted ?? [] })))
  await importAll(copy, events.map(e => {
    const { redacted: _, ...rest } = e
    return rest
  }), 10, sealed)
  await copy.close()
  copy = await open({ level: target }, { keyStore })
  t.same(await copy.readAll().toArray(), events, 'the same events, the shredded fields null and listed')
  const stored = (await entries(target)).map(([, v]) => Buffer.from(v, 'hex'))
  t.notOk(stored.some(v => v.includes('a@example.com') || v.includes('1 Main St')), 'no plaintext of personal fields in the imported records')
  await copy.shred('user-1')
  const [first] = await copy.readStream('user-1').toArray()
  t.same(first!.data, { userId: 'user-1', email: null, address: { street: null, city: 'Turin' } }, 'a subject shredded in the new database is forgotten there')
  await copy.close()
  await level.close()
  await target.close()
})
