// A stream's life, on every backend: deletion (soft: revisions go on), tombstones, truncation,
// retention by count and age (a stream's own, or its category's), recorded as system events in
// `$streams`; reads, revisions, listings and loads that see none of what was removed; a
// scavenge that takes it out of the database and changes no answer.
import type { Test } from 'tap'
import { defineAggregate, defineProjection, type RecordedEvent } from '../../src/index.js'
import { collect, type Backend } from '../helpers/backends.js'

const types = (events: RecordedEvent[]): string[] => events.map(e => e.type)
/** Rejects with `{ code: 'HUNG' }` when `p` has not settled after `ms`. */
async function within<T> (p: Promise<T>, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(Object.assign(new Error('hung'), { code: 'HUNG' })) }, ms) })
  try {
    return await Promise.race([p, hung])
  } finally {
    clearTimeout(timer)
  }
}

const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: (n: number) => n + 1, snapshotEvery: 2 })

export function lifecycleContract (t: Test, backend: Backend): void {
  t.test('deleteStream: the stream reads nothing, revision says where it ended, appends go on after it', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await db.append('cart-1', [{ type: 'A' }, { type: 'B' }, { type: 'C' }])
    await db.append('other', { type: 'O' })
    t.equal((await db.load(Count, 'cart-1')).state, 3)
    await t.rejects(db.deleteStream('cart-1', { expectedRevision: 1 }), { code: 'ANNALS_WRONG_EXPECTED_REVISION', stream: 'cart-1', actual: 2 })
    const deleted = await db.deleteStream('cart-1', { expectedRevision: 2 })
    t.same(await collect(db.readStream('cart-1')), [])
    t.same(await collect(db.readStream('cart-1', { backwards: true })), [])
    t.equal(await db.revision('cart-1'), 2, 'revision says where it ended')
    t.match(await db.load(Count, 'cart-1'), { state: 0, revision: 2 }, 'an aggregate starts again')
    t.same(types(await collect(db.readAll())), ['O', '$StreamDeleted'], 'readAll skips the removed events')
    const system = await collect(db.readStream('$streams'))
    t.match(system, [{ type: '$StreamDeleted', data: { stream: 'cart-1', before: 3 }, position: deleted.position }])
    // appending again re-creates it, revisions going on
    t.match(await db.append('cart-1', { type: 'D' }, { expectedRevision: 2 }), { revision: 3 })
    t.same((await collect(db.readStream('cart-1'))).map(e => [e.revision, e.type]), [[3, 'D']])
    t.match(await db.load(Count, 'cart-1'), { state: 1, revision: 3 })
    t.same(types(await collect(db.readAll())), ['O', '$StreamDeleted', 'D'], 'positions are never reused')
    t.same((await collect(db.readAll())).map(e => e.position), [3, 4, 5])
    await db.close()
    db = await f.open()
    t.same((await collect(db.readStream('cart-1'))).map(e => e.revision), [3], 'after reopening')
    await t.rejects(db.append('$streams', { type: 'X' }), { code: 'ANNALS_INVALID_EVENT' }, 'system streams are annals\' own')
    await t.rejects(db.append('x', { type: '$StreamDeleted' }), { code: 'ANNALS_INVALID_EVENT' }, 'and system types')
    await db.close()
  })

  t.test('tombstoneStream: never written again; reads nothing; not listed', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await db.append('cart-2', { type: 'A' })
    await db.tombstoneStream('cart-2')
    await t.rejects(db.append('cart-2', { type: 'B' }), { code: 'ANNALS_STREAM_DELETED' })
    await t.rejects(db.appendMany([{ stream: 'x', events: { type: 'X' } }, { stream: 'cart-2', events: { type: 'B' } }]), { code: 'ANNALS_STREAM_DELETED' })
    t.equal(await db.revision('x'), -1, 'nothing of the append was written')
    await t.rejects(db.deleteStream('cart-2'), { code: 'ANNALS_STREAM_DELETED' })
    t.same(await collect(db.readStream('cart-2')), [])
    t.same((await collect(db.streams())).map(s => s.stream), ['$streams'], 'tombstoned streams are not listed')
    // in one batch: a tombstone and an append after it
    const [, late] = await Promise.allSettled([db.tombstoneStream('cart-3'), db.append('cart-3', { type: 'Late' })])
    t.match(late, { status: 'rejected', reason: { code: 'ANNALS_STREAM_DELETED' } })
    await db.close()
    db = await f.open()
    await t.rejects(db.append('cart-2', { type: 'B' }), { code: 'ANNALS_STREAM_DELETED' }, 'after reopening')
    await db.close()
  })

  t.test('truncateStream: revisions below a bound read no more', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', Array.from({ length: 10 }, (_, i) => ({ type: 'T', data: i })))
    await db.truncateStream('s', { before: 6 })
    t.same((await collect(db.readStream('s'))).map(e => e.revision), [6, 7, 8, 9])
    t.same((await collect(db.readStream('s', { backwards: true, limit: 2 }))).map(e => e.revision), [9, 8])
    t.same((await collect(db.readStream('s', { from: 2, to: 7 }))).map(e => e.revision), [6, 7])
    t.match(await db.load(Count, 's'), { state: 4, revision: 9 })
    t.match(await db.load(Count, 's', { at: { revision: 4 } }), { state: 0 }, 'at a removed revision: nothing folded')
    await db.truncateStream('s', { before: 3 })
    t.same((await collect(db.readStream('s'))).map(e => e.revision), [6, 7, 8, 9], 'a truncation only moves forwards')
    t.equal((await collect(db.readAll())).filter(e => e.stream === 's').length, 4)
    await db.close()
  })

  t.test('retention: a count, an age, a category; a stream\'s own wins', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('log-1', Array.from({ length: 6 }, (_, i) => ({ type: 'T', data: i })))
    await db.setStreamMetadata('log-1', { maxCount: 2 })
    t.same((await collect(db.readStream('log-1'))).map(e => e.data), [4, 5])
    await db.append('log-1', { type: 'T', data: 6 })
    t.same((await collect(db.readStream('log-1'))).map(e => e.data), [5, 6], 'the count moves with new events')
    t.same((await collect(db.readAll())).filter(e => e.stream === 'log-1').map(e => e.data), [5, 6])
    await db.setStreamMetadata('log-1', {})
    t.equal((await collect(db.readStream('log-1'))).length, 7, 'cleared: all read again (until a scavenge)')
    // a category: user-* keeps 1 event each; user-9 keeps its own 3
    for (const u of ['user-1', 'user-9', 'admin']) await db.append(u, Array.from({ length: 4 }, (_, i) => ({ type: 'T', data: i })))
    await db.setStreamMetadata('user-*', { maxCount: 1 })
    await db.setStreamMetadata('user-9', { maxCount: 3 })
    t.same((await collect(db.readStream('user-1'))).map(e => e.data), [3])
    t.same((await collect(db.readStream('user-9'))).map(e => e.data), [1, 2, 3])
    t.equal((await collect(db.readStream('admin'))).length, 4)
    if (backend.clockHere === false) {
      // commit times come from another process's clock (the server's, the owner's), which the
      // test cannot move: ample margins
      // (a call to the server takes some milliseconds, and 'new' must still be young at the load)
      await db.append('old', { type: 'T', data: 'old' })
      await new Promise(resolve => setTimeout(resolve, 300))
      await db.append('old', { type: 'T', data: 'new' })
      await db.setStreamMetadata('old', { maxAge: 250 })
      t.same((await collect(db.readStream('old'))).map(e => e.data), ['new'])
      t.match(await db.load(Count, 'old'), { state: 1, revision: 1 })
    } else {
      // an age: events older than maxAge ms read no more (on the test's clock: a loaded machine's
      // pauses cannot age the new event too)
      const realNow = Date.now
      let clock = realNow() + 1000
      Date.now = () => clock
      try {
        await db.append('old', { type: 'T', data: 'old' })
        clock += 60_000
        await db.append('old', { type: 'T', data: 'new' })
        await db.setStreamMetadata('old', { maxAge: 40_000 })
        t.same((await collect(db.readStream('old'))).map(e => e.data), ['new'])
        t.match(await db.load(Count, 'old'), { state: 1, revision: 1 })
      } finally {
        Date.now = realNow
      }
    }
    await t.rejects(db.setStreamMetadata('old', { maxCount: -1 }), TypeError)
    await t.rejects(db.setStreamMetadata('old', { maxCont: 1 } as never), TypeError)
    await db.close()
  })

  t.test('subscriptions and async projections catch up past removed events at the head; a rebuild too', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const seen: string[] = []
    const byStream = (version: number): ReturnType<typeof defineProjection<number>> =>
      defineProjection<number>({ name: 'by-stream', mode: 'async', version, handle: (e, view) => { view.put(e.stream, e.position) } })
    let db = await f.open()
    const sub = db.subscribe({ name: 'seen' }, e => { seen.push(e.type) })
    const view = await db.project(byStream(1))
    await db.append('s', { type: 'A' })
    await db.truncateStream('s', { before: 10 })
    // the log's last event no longer reads: it is removed as it is written
    await db.append('s', { type: 'Hidden' })
    await within(sub.caughtUp())
    await within(view.caughtUp())
    t.same(seen, ['A', '$StreamTruncated'])
    t.match(view.status(), { position: 2, lag: 0, state: 'live' })
    t.same(await collect(view.query()), [['$streams', 1], ['s', 0]])
    await db.append('t', { type: 'B' })
    await within(view.caughtUp())
    t.same(await view.get('t'), 3, 'and goes on after them')
    await db.append('s', { type: 'Hidden' })
    await db.close()
    // a new version rebuilds from what reads, up to a head that does not read
    db = await f.open()
    const rebuilt = await db.project(byStream(2))
    await within(rebuilt.caughtUp())
    t.match(rebuilt.status(), { position: 4, lag: 0, state: 'live' })
    t.same(await collect(rebuilt.query()), [['$streams', 1], ['t', 3]], 'A reads no more either (below revision 10)')
    await db.close()
  })

  t.test('streams() and head()', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    t.same(await db.head(), { position: -1, time: 0 })
    for (const s of ['b', 'a-1', 'a-2', 'c']) await db.append(s, { type: 'T' })
    await db.append('a-1', { type: 'T' })
    const head = await db.head()
    t.equal(head.position, 4)
    t.ok(head.time > 0)
    t.same((await collect(db.streams())).map(s => [s.stream, s.revision]), [['a-1', 1], ['a-2', 0], ['b', 0], ['c', 0]])
    t.same((await collect(db.streams({ prefix: 'a-' }))).map(s => s.stream), ['a-1', 'a-2'])
    t.same((await collect(db.streams({ after: 'a-2', limit: 1 }))).map(s => s.stream), ['b'])
    await db.deleteStream('c')
    t.same((await collect(db.streams())).map(s => s.stream), ['$streams', 'a-1', 'a-2', 'b'], 'a deleted stream is not listed')
    t.throws(() => db.streams({ prefx: 'a' } as never), TypeError)
    await db.close()
  })

  t.test('scavenge: removes what no longer reads, and changes no answer', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    for (let i = 0; i < 30; i++) await db.append(`cart-${i % 3}`, { type: 'T', data: i, id: `e-${i}`, tags: [`n:${i % 2}`] })
    await db.load(Count, 'cart-0')
    await db.deleteStream('cart-1')
    await db.truncateStream('cart-2', { before: 5 })
    const answers = async (): Promise<unknown> => ({
      all: await collect(db.readAll()),
      back: await collect(db.readAll({ backwards: true })),
      streams: await Promise.all([0, 1, 2].map(async i => await collect(db.readStream(`cart-${i}`)))),
      tags: await collect(db.readAll({ tags: ['n:1'] })),
      loads: await Promise.all([0, 1, 2].map(async i => await db.load(Count, `cart-${i}`))),
      revisions: await Promise.all([0, 1, 2].map(async i => await db.revision(`cart-${i}`)))
    })
    const before = await answers()
    const { removed } = await db.scavenge()
    t.equal(removed, 15, 'the ten events of cart-1 and five of cart-2')
    t.same(await answers(), before, 'the same answers')
    t.same((await db.scavenge()).removed, 0, 'nothing left to remove')
    // an id of a removed event is free again; a retry of it writes anew
    t.match(await db.append('new', { id: 'e-1', type: 'T' }), { revision: 0 })
    await db.close()
    db = await f.open()
    const after = await collect(db.readAll())
    t.same(after.slice(0, -1), (before as { all: RecordedEvent[] }).all, 'after reopening')
    await db.close()
  })
}
