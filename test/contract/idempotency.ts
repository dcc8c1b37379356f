// Contract: idempotent retries by event id.
import type { Test } from 'tap'
import { collect, type Backend } from '../helpers/backends.js'

export function idempotencyContract (t: Test, backend: Backend): void {
  const dup = { code: 'ANNALS_DUPLICATE_ID' }

  t.test('appending the same events again returns the original result and writes nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    const events = [
      { id: 'cmd-1/0', type: 'PhotoAdded', data: { photoId: 'p1', tags: ['a'] }, metadata: { by: 'u1' } },
      { id: 'cmd-1/1', type: 'PhotoRetitled', data: { photoId: 'p1', title: 'Dunes' } }
    ]
    const first = await db.append('user-1', events, { expectedRevision: 'no_stream' })
    await db.append('user-1', { type: 'Later' })
    // a retry whose expectation no longer holds still succeeds: the first try did
    t.match(await db.append('user-1', events, { expectedRevision: 'no_stream' }), first)
    t.match(await db.append('user-1', events[0]!), { revision: 0, position: 0 })
    t.equal((await collect(db.readAll())).length, 3)
    await db.close()
    db = await f.open()
    t.match(await db.append('user-1', events, { expectedRevision: 7 }), first, 'after reopen too')
    t.equal((await collect(db.readAll())).length, 3)
    await db.close()
  })

  t.test('an id stored with other content, in another stream, or out of order is ANNALS_DUPLICATE_ID', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', [{ id: 'a', type: 'T', data: { n: 1 } }, { id: 'b', type: 'T', data: { n: 2 } }])
    await t.rejects(db.append('s', { id: 'a', type: 'T', data: { n: 9 } }), dup, 'other data')
    await t.rejects(db.append('s', { id: 'a', type: 'U', data: { n: 1 } }), dup, 'other type')
    await t.rejects(db.append('s', { id: 'a', type: 'T', data: { n: 1 }, metadata: { x: 1 } }), dup, 'other metadata')
    await t.rejects(db.append('t', { id: 'a', type: 'T', data: { n: 1 } }), dup, 'other stream')
    await t.rejects(db.append('s', [{ id: 'b', type: 'T', data: { n: 2 } }, { id: 'a', type: 'T', data: { n: 1 } }]), dup, 'other order')
    await t.rejects(db.append('s', [{ id: 'a', type: 'T', data: { n: 1 } }, { id: 'c', type: 'T' }]), dup, 'partly stored')
    await t.rejects(db.append('s', [{ id: 'a', type: 'T', data: { n: 1 } }, { type: 'T' }]), dup, 'with a new event without id')
    await t.rejects(db.append('s', [{ id: 'd', type: 'T' }, { id: 'd', type: 'T' }]), dup, 'twice in one append')
    t.equal((await collect(db.readAll())).length, 2)
    await db.close()
  })

  t.test('generated ids work as given ids', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', [{ type: 'T', data: 1 }, { type: 'T', data: 2 }])
    await db.append('x', { type: 'X' })
    const [a, b] = await collect(db.readStream('s'))
    t.match(await db.append('s', { id: a!.id, type: 'T', data: 1 }), { revision: 0, position: 0 })
    t.match(await db.append('s', [{ id: a!.id, type: 'T', data: 1 }, { id: b!.id, type: 'T', data: 2 }]), { revision: 1, position: 1 })
    await t.rejects(db.append('x', { id: b!.id, type: 'T', data: 2 }), dup)
    await t.rejects(db.append('s', { id: b!.id, type: 'T', data: 3 }), dup)
    // a UUIDv7 of someone else's, which looks like a generated id, is stored and found like any id
    const foreign = '0190a6b2-1234-7abc-8def-0123456789ab'
    t.match(await db.append('y', { id: foreign, type: 'Y' }), { revision: 0, position: 3 })
    t.match(await db.append('y', { id: foreign, type: 'Y' }), { revision: 0, position: 3 })
    const low = '0190a6b2-1234-7000-8000-000000600000' // carries position 3, where another event is
    t.match(await db.append('z', { id: low, type: 'Z' }), { revision: 0, position: 4 })
    t.match(await db.append('z', { id: low, type: 'Z' }), { revision: 0, position: 4 })
    t.equal((await collect(db.readAll())).length, 5)
    await db.close()
  })

  t.test('concurrent retries of one append: one writes, all get its result', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const events = [{ id: 'e1', type: 'T' }, { id: 'e2', type: 'T' }]
    const results = await Promise.all(Array.from({ length: 10 }, async () => await db.append('s', events)))
    for (const r of results) t.match(r, { revision: 1, position: 1, ids: ["e1", "e2"] })
    t.equal((await collect(db.readAll())).length, 2)
    const mixed = await Promise.allSettled([
      db.append('m', { id: 'm1', type: 'T', data: 1 }),
      db.append('m', { id: 'm1', type: 'T', data: 2 })
    ])
    t.same(mixed.map(r => r.status), ['fulfilled', 'rejected'])
    await db.close()
  })
}
