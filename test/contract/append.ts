// Contract: appending. Revisions, positions, times, expected revisions, validation.
import type { Test } from 'tap'
import { AnnalsError, type RecordedEvent } from '../../src/index.js'
import { collect, type Backend } from '../helpers/backends.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

export function appendContract (t: Test, backend: Backend): void {
  t.test('with sync, on the database or per append, appends are written the same, and synced', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    // where the fixture sees the storage's writes: each append that asks for sync is written with sync
    const synced = f.syncedWrites ?? (() => NaN)
    const seen = (): number => synced()
    let db = await f.open({ sync: true })
    let before = seen()
    await db.append('s', { type: 'One' })
    await db.append('s', [{ type: 'Two' }, { type: 'Three' }])
    if (f.syncedWrites !== undefined) t.equal(seen() - before, 2, 'the database\'s sync applies to each append')
    before = seen()
    await db.append('v', { type: 'Not synced' }, { sync: false })
    if (f.syncedWrites !== undefined) t.equal(seen() - before, 0, 'an append may say sync: false')
    await Promise.all([db.append('t', { type: 'Four' }), db.append('u', { type: 'Five' }, { sync: false })])
    await db.close()
    db = await f.open()
    before = seen()
    await db.append('s', { type: 'Six' }, { sync: true })
    await db.append('s', { type: 'Seven', id: 'seven' })
    if (f.syncedWrites !== undefined) t.equal(seen() - before, 1, 'per append, on a database without sync')
    // a retry that asks for sync makes the original durable, though it writes nothing new
    before = seen()
    await db.append('s', { type: 'Seven', id: 'seven' }, { sync: true })
    if (f.syncedWrites !== undefined) t.equal(seen() - before, 1, 'a retry with sync syncs')
    t.same((await collect(db.readAll())).map(e => [e.stream, e.type]),
      [['s', 'One'], ['s', 'Two'], ['s', 'Three'], ['v', 'Not synced'], ['t', 'Four'], ['u', 'Five'], ['s', 'Six'], ['s', 'Seven']])
    await db.close()
  })

  t.test('an empty database', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    t.equal(await db.revision('nothing'), -1)
    t.same(await collect(db.readAll()), [])
    t.same(await collect(db.readStream('nothing')), [])
    await db.close()
  })

  t.test('revisions count per stream, positions across the log, without gaps', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    t.match(await db.append('a', { type: 'A1' }), { revision: 0, position: 0 })
    t.match(await db.append('b', [{ type: 'B1' }, { type: 'B2' }]), { revision: 1, position: 2 })
    t.match(await db.append('a', { type: 'A2' }), { revision: 1, position: 3 })
    const all = await collect(db.readAll())
    t.same(all.map(e => [e.stream, e.revision, e.position, e.type]), [
      ['a', 0, 0, 'A1'], ['b', 0, 1, 'B1'], ['b', 1, 2, 'B2'], ['a', 1, 3, 'A2']
    ])
    t.equal(await db.revision('a'), 1)
    t.equal(await db.revision('b'), 1)
    await db.close()
  })

  t.test('a recorded event has every field, with a generated UUIDv7 id', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const before = Date.now()
    await db.append('photos-7', { type: 'PhotoAdded', data: { title: 'Dunes' }, metadata: { by: 'u7' } })
    const [e] = await collect(db.readStream('photos-7')) as [RecordedEvent]
    t.match(e.id, UUID_V7)
    t.same(Object.keys(e).sort(), ['data', 'id', 'metadata', 'position', 'revision', 'stream', 'time', 'type', 'version'])
    t.same({ ...e, id: 'x', time: 0 }, {
      id: 'x', stream: 'photos-7', revision: 0, position: 0, type: 'PhotoAdded', version: 1, data: { title: 'Dunes' }, metadata: { by: 'u7' }, time: 0
    })
    t.ok(e.time >= before && e.time <= Date.now(), 'time is the commit time')
    await db.close()
  })

  t.test('data round-trips, missing data is null, missing metadata is {}', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const data = {
      text: 'naïve 東京 🚀', n: -12.5, big: 2 ** 40, yes: true, none: null, list: [1, 'two', { three: 3 }],
      when: new Date('2026-01-02T03:04:05.678Z'), bytes: Buffer.from([0, 1, 255]), count: 12345678901234567n,
      nested: { deep: { deeper: { deepest: 'ok' } } }
    }
    await db.append('s', [{ type: 'Full', data }, { type: 'Empty' }, { type: 'Scalar', data: 42 }])
    const events = await collect(db.readStream('s'))
    t.same(events[0]!.data, data)
    t.ok(events[0]!.data.when instanceof Date)
    t.equal(events[0]!.data.count, 12345678901234567n)
    t.equal(events[1]!.data, null)
    t.same(events[1]!.metadata, {})
    t.equal(events[2]!.data, 42)
    await db.close()
  })

  t.test('commit time never decreases with position', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await Promise.all(Array.from({ length: 300 }, async (_, i) => await db.append(`s${i % 7}`, { type: 'T' })))
    const all = await collect(db.readAll())
    t.ok(all.every((e, i) => i === 0 || e.time >= all[i - 1]!.time), "times never decrease")
    await db.close()
  })

  t.test('expected revisions', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const wrong = { code: 'ANNALS_WRONG_EXPECTED_REVISION' }
    await t.rejects(db.append('s', { type: 'X' }, { expectedRevision: 'stream_exists' }), wrong)
    await t.rejects(db.append('s', { type: 'X' }, { expectedRevision: 0 }), wrong)
    t.match(await db.append('s', { type: 'X' }, { expectedRevision: 'no_stream' }), { revision: 0, position: 0 })
    await t.rejects(db.append('s', { type: 'X' }, { expectedRevision: 'no_stream' }), wrong)
    await t.rejects(db.append('s', { type: 'X' }, { expectedRevision: -1 }), wrong)
    await t.rejects(db.append('s', { type: 'X' }, { expectedRevision: 1 }), wrong)
    t.match(await db.append('s', [{ type: 'X' }, { type: 'Y' }], { expectedRevision: 0 }), { revision: 2, position: 2 })
    t.match(await db.append('s', { type: 'X' }, { expectedRevision: 'stream_exists' }), { revision: 3, position: 3 })
    t.match(await db.append('s', { type: 'X' }, { expectedRevision: 'any' }), { revision: 4, position: 4 })
    t.match(await db.append('t', { type: 'X' }, { expectedRevision: -1 }), { revision: 0, position: 5 })
    t.equal((await collect(db.readAll())).length, 6, 'failed appends wrote nothing')
    const err = await db.append('s', { type: 'X' }, { expectedRevision: 2 }).catch((e: unknown) => e)
    t.ok(err instanceof AnnalsError)
    await db.close()
  })

  t.test('misused arguments are TypeErrors and write nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const bad: Array<() => Promise<unknown>> = [
      async () => await db.append(42 as unknown as string, { type: 'X' }),
      async () => await db.append('s', { type: 'X' }, { expectedRevision: 'some' as 'any' }),
      async () => await db.append('s', { type: 'X' }, { expectedRevision: 1.5 }),
      async () => await db.append('s', { type: 'X' }, { expectedRevision: -2 }),
      async () => await db.append('s', { type: 'X' }, 'fast' as unknown as object),
      async () => await db.append('s', { type: 'X' }, { sync: 'yes' as unknown as boolean }),
      async () => await db.revision(undefined as unknown as string)
    ]
    for (const [i, call] of bad.entries()) await t.rejects(call(), TypeError, `case ${i}`)
    t.equal(await db.revision('s'), -1)
    await db.close()
  })

  t.test('malformed events are ANNALS_INVALID_EVENT and write nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = cycle
    const cases: Array<[string, string, unknown]> = [
      ['empty stream', '', { type: 'X' }],
      ['stream over 1024 bytes', 'é'.repeat(513), { type: 'X' }],
      ['stream with NUL', 'a\u0000b', { type: 'X' }],
      ['stream with a lone surrogate', 'a\uD800', { type: 'X' }],
      ['no events', 's', []],
      ['not an object', 's', 'PhotoAdded'],
      ['null', 's', null],
      ['no type', 's', { data: {} }],
      ['empty type', 's', { type: '' }],
      ['type over 256 bytes', 's', { type: 'T'.repeat(257) }],
      ['type not a string', 's', { type: 7 }],
      ['unknown field', 's', { type: 'X', payload: {} }],
      ['id not a string', 's', { type: 'X', id: 7 }],
      ['empty id', 's', { type: 'X', id: '' }],
      ['metadata not an object', 's', { type: 'X', metadata: 'by me' }],
      ['metadata an array', 's', { type: 'X', metadata: [] }],
      ['function in data', 's', { type: 'X', data: { f () {} } }],
      ['symbol in data', 's', { type: 'X', data: { s: Symbol('s') } }],
      ['cycle in data', 's', { type: 'X', data: cycle }],
      ['bigint beyond 64 bits', 's', { type: 'X', data: { n: 2n ** 70n } }],
      ['function in metadata', 's', { type: 'X', metadata: { f () {} } }],
      ['one bad event among good ones', 's', [{ type: 'X' }, { type: 'Y', data: { f () {} } }, { type: 'Z' }]]
    ]
    for (const [name, stream, events] of cases) {
      await t.rejects(db.append(stream, events as never), { code: 'ANNALS_INVALID_EVENT' }, name)
    }
    t.equal(await db.revision('s'), -1)
    t.same(await collect(db.readAll()), [], 'nothing was written')
    // the writer goes on after failures
    t.match(await db.append('s', { type: 'X', data: { ok: true } }), { revision: 0, position: 0 })
    await db.close()
  })

  t.test('an event over maxEventSize is ANNALS_EVENT_TOO_LARGE, alone in its batch', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open({ maxEventSize: 1000 })
    const results = await Promise.allSettled([
      db.append('a', { type: 'Small', data: 'x'.repeat(100) }),
      db.append('b', [{ type: 'Small' }, { type: 'Big', data: 'x'.repeat(1000) }]),
      db.append('c', { type: 'Small' })
    ])
    t.same(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'])
    t.match((results[1] as PromiseRejectedResult).reason, { code: 'ANNALS_EVENT_TOO_LARGE' })
    t.same((await collect(db.readAll())).map(e => [e.stream, e.position]), [['a', 0], ['c', 1]])
    await db.close()
  })

  t.test('the default maxEventSize is 4 MiB', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', { type: 'Fits', data: 'x'.repeat(4 * 1024 * 1024 - 200) })
    await t.rejects(db.append('s', { type: 'Big', data: 'x'.repeat(4 * 1024 * 1024) }), { code: 'ANNALS_EVENT_TOO_LARGE' })
    await db.close()
  })

  t.test('reopening keeps everything, and appends carry on from there', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await db.append('a', [{ type: 'A' }, { type: 'B' }])
    await db.append('b', { type: 'C', data: { n: 1 } })
    const before = await collect(db.readAll())
    await db.close()
    db = await f.open()
    t.same(await collect(db.readAll()), before)
    t.equal(await db.revision('a'), 1)
    t.match(await db.append('a', { type: 'D' }, { expectedRevision: 1 }), { revision: 2, position: 3 })
    const last = (await collect(db.readAll({ backwards: true, limit: 1 })))[0]!
    t.ok(last.time >= before[2]!.time)
    await db.close()
  })

  t.test('a closed database rejects every call with ANNALS_NOT_OPEN', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('a', { type: 'A' })
    await db.close()
    await db.close() // idempotent
    t.equal(db.status, 'closed')
    const notOpen = { code: 'ANNALS_NOT_OPEN' }
    await t.rejects(db.append('a', { type: 'A' }), notOpen)
    await t.rejects(db.revision('a'), notOpen)
    await t.rejects(collect(db.readAll()), notOpen)
    await t.rejects(collect(db.readStream('a')), notOpen)
    t.throws(() => db.subscribe({}, () => {}), notOpen)
  })

  t.test('appends accepted before close are written', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    const appends = Array.from({ length: 50 }, async (_, i) => await db.append(`s${i % 3}`, { type: 'T', data: i }))
    await db.close()
    const results = await Promise.all(appends)
    db = await f.open()
    const read = await collect(db.readAll())
    // each append's result names the event it wrote, which reads back after the reopen
    t.same(results.map(r => read[r.position]?.data), Array.from({ length: 50 }, (_, i) => i))
    t.same(results.map(r => read[r.position]?.revision), results.map(r => r.revision))
    await db.close()
  })

  t.test('a second open of the same database is ANNALS_LOCKED', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await t.rejects(f.open(), { code: 'ANNALS_LOCKED' })
    t.equal(db.status, 'open', 'the first stays usable')
    await db.append('a', { type: 'A' })
    await db.close()
  })
}
