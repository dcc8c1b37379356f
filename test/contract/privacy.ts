// Contract: personal data and crypto-shredding, as seen through the public API.
import type { Test } from 'tap'
import { MemoryLevel } from 'memory-level'
import { Sealed, defineAggregate, defineProjection, open } from '../../src/index.js'
import { collect, type Backend } from '../helpers/backends.js'
import { inlineMode } from './inline.js'

const registered = (n: number, extra: Record<string, unknown> = {}): { type: string, data: Record<string, unknown> } => ({
  type: 'UserRegistered',
  data: { userId: `user-${n}`, email: `user${n}@example.com`, name: `Name ${n}`, address: { street: `${n} Main St`, city: 'Turin' }, plan: 'pro', ...extra }
})
const personal = { subject: 'userId', fields: ['email', 'name', 'address.street'] }

export function privacyContract (t: Test, backend: Backend): void {
  t.test('personal fields read as given, until their subject is shredded', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open({ personalData: { UserRegistered: personal } })
    await db.append('user-1', registered(1))
    await db.append('user-2', registered(2))
    await db.append('user-1', { type: 'PhotoAdded', data: { photoId: 'p1', title: 'Dunes' } })
    const before = await collect(db.readAll())
    t.same(before[0]!.data, registered(1).data)
    t.equal(before[0]!.redacted, undefined)
    await db.shred('user-1')
    const after = await collect(db.readAll())
    t.same(after[0]!.data, { ...registered(1).data, email: null, name: null, address: { street: null, city: 'Turin' } })
    t.same(after[0]!.redacted, ['email', 'name', 'address.street'])
    t.same(after[1], before[1], 'other subjects read as before')
    t.same(after[2], before[2], 'events without personal data too')
    t.same((await collect(db.readStream('user-1')))[0], after[0], 'every read path')
    await db.shred('user-1') // twice is fine
    await db.shred(['nobody', 'user-1'])
    await db.close()
    db = await f.open()
    t.same(await collect(db.readAll()), after, 'after reopen too, declarations or not')
    await db.close()
  })

  t.test('subscriptions see personal fields opened, or redacted', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open({ personalData: { UserRegistered: personal } })
    await db.append('user-3', registered(3))
    await db.shred('user-3')
    await db.append('user-4', registered(4))
    const seen: Array<{ email: unknown, redacted: unknown }> = []
    const sub = db.subscribe({}, e => { seen.push({ email: e.data.email, redacted: e.redacted }) })
    await sub.caughtUp()
    t.same(seen, [{ email: null, redacted: ['email', 'name', 'address.street'] }, { email: 'user4@example.com', redacted: undefined }])
    await db.close()
  })

  t.test('a shredded subject that comes back gets a new key; its old data stays forgotten', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open({ personalData: { UserRegistered: personal } })
    await db.append('user-5', registered(5))
    await db.shred('user-5')
    await db.append('user-5', registered(5, { email: 'new5@example.com' }))
    const events = await collect(db.readStream('user-5'))
    t.equal(events[0]!.data.email, null)
    t.equal(events[1]!.data.email, 'new5@example.com')
    await db.close()
  })

  t.test('retries of appends with personal data are idempotent', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open({ personalData: { UserRegistered: personal } })
    const event = { id: 'register-6', ...registered(6) }
    const first = await db.append('user-6', event)
    t.match(await db.append('user-6', event), first)
    await t.rejects(db.append('user-6', { ...event, data: { ...event.data, email: 'other@example.com' } }), { code: 'ANNALS_DUPLICATE_ID' })
    t.equal((await collect(db.readAll())).length, 1)
    await db.close()
  })

  t.test('an event of a declared type without a subject fails alone', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open({ personalData: { UserRegistered: personal } })
    const results = await Promise.allSettled([
      db.append('a', registered(7)),
      db.append('b', { type: 'UserRegistered', data: { email: 'x@example.com' } }),
      db.append('c', registered(8))
    ])
    t.same(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'])
    t.match((results[1] as PromiseRejectedResult).reason, { code: 'ANNALS_INVALID_EVENT' })
    await db.close()
  })

  t.test('declarations and shred check their arguments', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    for (const [type, spec] of [['', personal], ['T', null], ['T', { subject: 3, fields: ['a'] }], ['T', { subject: 'id', fields: [] }], ['T', { subject: 'id', fields: ['a..b'] }]] as const) {
      t.throws(() => db.definePersonalData(type, spec as never), TypeError, JSON.stringify([type, spec]))
    }
    await t.rejects(db.shred(3 as never), TypeError)
    await t.rejects(db.shred(['']), TypeError)
    db.definePersonalData('UserRegistered', { subject: data => `user-${String(data.userId).slice(5)}`, fields: ['email'] })
    await db.append('user-9', registered(9))
    t.equal((await collect(db.readAll()))[0]!.data.email, 'user9@example.com')
    await db.close()
    t.throws(() => db.definePersonalData('X', personal), { code: 'ANNALS_NOT_OPEN' })
    await t.rejects(db.shred('user-9'), { code: 'ANNALS_NOT_OPEN' })
  })

  t.test('a database on a level without a key store refuses personal data, clearly', async t => {
    const level = new MemoryLevel()
    t.teardown(async () => { await level.close() })
    const db = await open({ level })
    t.throws(() => db.definePersonalData('UserRegistered', personal), { code: 'ANNALS_NO_KEY_STORE' })
    await t.rejects(db.shred('user-1'), { code: 'ANNALS_NO_KEY_STORE' })
    await db.append('s', { type: 'Plain' })
    t.equal((await collect(db.readAll())).length, 1, 'the rest works')
    await db.close()
  })

  t.test('aggregates fold personal fields sealed: loads open them, snapshots keep them sealed, a shred forgets them', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open({ personalData: { UserRegistered: personal } })
    const Profile = defineAggregate({
      name: 'profile',
      initial: () => ({ email: null as unknown, street: null as unknown, logins: 0 }),
      evolve: (s, e) => e.type === 'UserRegistered'
        ? { ...s, email: e.data.email, street: e.data.address.street }
        : { ...s, logins: s.logins + 1 },
      snapshotEvery: 2
    })
    await db.append('user-10', [registered(10), { type: 'LoggedIn' }, { type: 'LoggedIn' }, { type: 'LoggedIn' }])
    t.same((await db.load(Profile, 'user-10')).state, { email: 'user10@example.com', street: '10 Main St', logins: 3 })
    await db.close() // writes the snapshots the load queued
    db = await f.open({ personalData: { UserRegistered: personal } })
    t.same((await db.load(Profile, 'user-10')).state, { email: 'user10@example.com', street: '10 Main St', logins: 3 }, 'from a snapshot')
    t.same((await db.load(Profile, 'user-10', { at: { revision: 0 } })).state, { email: 'user10@example.com', street: '10 Main St', logins: 0 })
    await db.shred('user-10')
    t.same((await db.load(Profile, 'user-10')).state, { email: null, street: null, logins: 3 }, 'from the snapshot, forgotten')
    t.same((await db.load(Profile, 'user-10', { at: { revision: 0 } })).state, { email: null, street: null, logins: 0 }, 'from scratch, forgotten')
    // evolve cannot compute on a sealed field
    const Domain = defineAggregate({ name: 'domain', initial: () => '', evolve: (_s: string, e) => String(e.data.email).split('@')[1]! })
    await db.append('user-11', registered(11))
    await t.rejects(db.load(Domain, 'user-11'), { code: 'ANNALS_AGGREGATE_FAILED', cause: { code: 'ANNALS_SEALED' } })
    await db.close()
  })

  t.test('views keep personal fields sealed: reads open them, now and as of the past; a shred forgets them', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open({ personalData: { UserRegistered: personal } })
    const contacts = (mode: 'inline' | 'async') => defineProjection<{ email: unknown, street: unknown }>({
      name: `contacts-${mode}`, mode, types: ['UserRegistered'],
      handle (event, view) { view.put(event.data.userId, { email: event.data.email, street: event.data.address.street }) }
    })
    if (inlineMode(backend) === 'async') await t.rejects(db.project(contacts('inline')), { code: 'ANNALS_INLINE_UNAVAILABLE' })
    const inline = await db.project(contacts(inlineMode(backend)))
    const async = await db.project(contacts('async'))
    await db.append('user-12', registered(12))
    const { position } = await db.append('user-13', registered(13))
    await async.caughtUp()
    await inline.caughtUp()
    for (const view of [inline, async]) {
      t.same(await view.get('user-12'), { email: 'user12@example.com', street: '12 Main St' })
      t.same(await (await view.at({ position })).get('user-12'), { email: 'user12@example.com', street: '12 Main St' })
    }
    await db.shred('user-12')
    for (const view of [inline, async]) {
      t.same(await view.get('user-12'), { email: null, street: null }, `${view.name}: forgotten`)
      t.same(await (await view.at({ position })).get('user-12'), { email: null, street: null }, `${view.name}: forgotten in the past too`)
      t.same((await collect(view.query())).map(([k, d]) => [k, d.email]), [['user-12', null], ['user-13', 'user13@example.com']])
    }
    // a handler cannot compute on a sealed field: registering fails on the events it catches up
    // with, and an append it would handle fails alone
    const domains = (types: string[], mode: 'inline' | 'async' = 'inline') => defineProjection({
      name: `domains-${types[0]!}`, mode, types,
      handle (event, view) { view.put(event.data.userId, String(event.data.email).split('@')[1]) }
    })
    if (inlineMode(backend) === 'async') {
      // a client: an async one stops at the event it cannot handle
      const failing = await db.project(domains(['UserRegistered'], 'async'))
      await t.rejects(failing.caughtUp(), { code: 'ANNALS_PROJECTION_FAILED', cause: { code: 'ANNALS_SEALED' } })
      await db.close()
      return
    }
    await t.rejects(db.project(domains(['UserRegistered'])), { code: 'ANNALS_PROJECTION_FAILED', cause: { code: 'ANNALS_SEALED' } })
    db.definePersonalData('EmailChanged', personal)
    await db.project(domains(['EmailChanged']))
    await t.rejects(db.append('user-13', { type: 'EmailChanged', data: { userId: 'user-13', email: 'new@example.com' } }), { code: 'ANNALS_PROJECTION_FAILED', cause: { code: 'ANNALS_SEALED' } })
    t.equal(await db.revision('user-13'), 0, 'nothing of it was written')
    await db.close()
  })

  t.test('declarations are stored: a process that opens without them seals the same fields', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open({ personalData: { UserRegistered: personal } })
    db.definePersonalData('EmailChanged', { subject: 'userId', fields: ['email'] })
    await db.close() // nothing of EmailChanged was appended: stored all the same
    db = await f.open() // a script, a migration, an older deployment: no declarations
    await db.append('user-20', registered(20))
    await db.append('user-20', { type: 'EmailChanged', data: { userId: 'user-20', email: 'new20@example.com' } })
    t.same((await collect(db.readAll())).map(e => e.data.email), ['user20@example.com', 'new20@example.com'])
    await db.shred('user-20')
    const after = await collect(db.readAll())
    t.same(after.map(e => e.redacted), [['email', 'name', 'address.street'], ['email']], 'they were sealed: the shred forgets them')
    await db.close()
  })

  t.test('declarations widen, and never narrow', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open({ personalData: { UserRegistered: { subject: 'userId', fields: ['email'] } } })
    await db.append('user-21', registered(21))
    await db.close()
    // a new version declares one more field
    db = await f.open({ personalData: { UserRegistered: { subject: 'userId', fields: ['email', 'name'] } } })
    await db.append('user-22', registered(22))
    await db.close()
    // the old version, still running somewhere, declares the field it knew: the new one is sealed too
    db = await f.open({ personalData: { UserRegistered: { subject: 'userId', fields: ['email'] } } })
    await db.append('user-23', registered(23))
    // and a field inside one already personal adds nothing of its own
    db.definePersonalData('UserRegistered', { subject: 'userId', fields: ['address', 'address.street'] })
    await db.append('user-24', registered(24))
    await db.shred(['user-21', 'user-22', 'user-23', 'user-24'])
    t.same((await collect(db.readAll())).map(e => e.redacted), [['email'], ['email', 'name'], ['email', 'name'], ['email', 'name', 'address']])
    t.same((await collect(db.readStream('user-24')))[0]!.data, { ...registered(24).data, email: null, name: null, address: null })
    await db.close()
  })

  t.test('a declaration with another subject is refused, and changes nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open({ personalData: { UserRegistered: personal } })
    await db.close()
    await t.rejects(f.open({ personalData: { UserRegistered: { subject: 'accountId', fields: ['email'] } } }), { code: 'ANNALS_DECLARATION_CONFLICT' })
    await t.rejects(f.open({ personalData: { UserRegistered: { subject: (d: { userId: string }) => d.userId, fields: ['email'] } } }), { code: 'ANNALS_DECLARATION_CONFLICT' })
    // one bad declaration among good ones: none is made
    await t.rejects(f.open({ personalData: { Other: personal, UserRegistered: { subject: 'accountId', fields: ['email'] } } }), { code: 'ANNALS_DECLARATION_CONFLICT' })
    db = await f.open()
    t.throws(() => db.definePersonalData('UserRegistered', { subject: 'accountId', fields: ['email', 'plan'] }), { code: 'ANNALS_DECLARATION_CONFLICT' })
    await db.append('user-25', [registered(25), { type: 'Other', data: { userId: 'user-25', email: 'other@example.com' } }])
    await db.shred('user-25')
    const [first, other] = await collect(db.readAll())
    t.same(first!.redacted, ['email', 'name', 'address.street'], 'sealed as stored, without the refused field')
    t.equal(first!.data.plan, 'pro')
    t.equal(other!.data.email, 'other@example.com', 'the declaration refused with the bad one was not made')
    await db.close()
  })

  t.test('a subject given by a function: a process without the function cannot append that type', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const shipped = { subject: (d: { customer: { id: number } }) => `customer-${d.customer.id}`, fields: ['shipTo'] }
    const event = (n: number): { type: string, data: Record<string, unknown> } => ({ type: 'OrderShipped', data: { customer: { id: n }, shipTo: `${n} Harbour Rd` } })
    let db = await f.open({ personalData: { OrderShipped: shipped } })
    await db.append('order-1', event(1))
    await db.close()
    db = await f.open()
    const results = await Promise.allSettled([db.append('order-2', event(2)), db.append('order-3', { type: 'Noted' })])
    t.match(results[0], { status: 'rejected', reason: { code: 'ANNALS_SUBJECT_UNDECLARED' } })
    t.match(results[1], { status: 'fulfilled' }, 'other appends go on')
    t.equal(await db.revision('order-2'), -1, 'nothing of it was written')
    t.equal((await collect(db.readAll()))[0]!.data.shipTo, '1 Harbour Rd', 'what was sealed reads')
    await db.close()
    db = await f.open({ personalData: { OrderShipped: shipped } })
    await db.append('order-2', event(2))
    await db.shred('customer-2')
    t.same((await collect(db.readStream('order-2')))[0]!.redacted, ['shipTo'])
    await db.close()
  })

  t.test('sealed values are opaque', async t => {
    const s = new Sealed('user-1', Buffer.alloc(8), 'e1', 'email', Buffer.alloc(12), Buffer.alloc(20))
    t.throws(() => `${s as unknown as string}`, { code: 'ANNALS_SEALED' })
    t.throws(() => JSON.stringify({ s }), { code: 'ANNALS_SEALED' })
    t.throws(() => (s as unknown as number) + 1, { code: 'ANNALS_SEALED' })
    t.match((await import('node:util')).inspect(s), /Sealed email of user-1/)
  })
}
