// Contract: subscriptions. Catch-up then live, in order, once; durable names; failures.
import type { Test } from 'tap'
import type { Annals, RecordedEvent, Subscription } from '../../src/index.js'
import type { Backend } from '../helpers/backends.js'

async function appendMany (db: Annals, count: number, start = 0): Promise<void> {
  await Promise.all(Array.from({ length: count }, async (_, i) => await db.append(`s${(start + i) % 5}`, { type: (start + i) % 2 === 0 ? 'Even' : 'Odd', data: start + i })))
}

/** Resolves when `events` holds `n` events. */
async function until (check: () => boolean): Promise<void> {
  while (!check()) await new Promise(resolve => setTimeout(resolve, 2))
}

export function subscriptionContract (t: Test, backend: Backend): void {
  t.test('catches up, then stays live, each event once and in order', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await appendMany(db, 300)
    const seen: number[] = []
    let inFlight = 0
    let maxInFlight = 0
    const sub = db.subscribe({}, async event => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      if (event.position % 50 === 0) await new Promise(resolve => setTimeout(resolve, 1))
      seen.push(event.position)
      inFlight--
    })
    // appends while it catches up, to cross the hand-over
    for (let i = 0; i < 10; i++) await appendMany(db, 30, 300 + i * 30)
    await sub.caughtUp()
    t.same(seen, Array.from({ length: 600 }, (_, i) => i))
    t.equal(maxInFlight, 1, 'the handler is awaited before the next event')
    await appendMany(db, 5, 600)
    await sub.caughtUp()
    t.equal(seen.length, 605)
    t.equal(sub.position, 604)
    await sub.close()
    await appendMany(db, 5, 605)
    await new Promise(resolve => setTimeout(resolve, 20)) // time enough to deliver, were it still open
    t.equal(seen.length, 605, 'nothing after close')
    await db.close()
  })

  t.test("from a position, from 'end', and by type", async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await appendMany(db, 20)
    const fromTen: number[] = []
    const fromEnd: number[] = []
    const odd: RecordedEvent[] = []
    const subs: Subscription[] = [
      db.subscribe({ from: 10 }, e => { fromTen.push(e.position) }),
      db.subscribe({ from: 'end' }, e => { fromEnd.push(e.position) }),
      db.subscribe({ types: ['Odd'] }, e => { odd.push(e) })
    ]
    await appendMany(db, 4, 20)
    for (const s of subs) await s.caughtUp()
    t.same(fromTen, Array.from({ length: 14 }, (_, i) => 10 + i))
    t.same(fromEnd, [20, 21, 22, 23])
    t.same(odd.map(e => e.type), Array(12).fill('Odd'))
    t.same(odd.map(e => e.data), Array.from({ length: 12 }, (_, i) => i * 2 + 1))
    for (const s of subs) await s.close()
    await db.close()
  })

  t.test('a durable subscription resumes after its last handled event, across reopen', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await appendMany(db, 10)
    const seen: number[] = []
    let sub = db.subscribe({ name: 'mailer' }, e => { seen.push(e.position) })
    await sub.caughtUp()
    t.throws(() => db.subscribe({ name: 'mailer' }, () => {}), { code: 'ANNALS_ALREADY_SUBSCRIBED' })
    await sub.close()
    await appendMany(db, 5, 10)
    await db.close()
    db = await f.open()
    sub = db.subscribe({ name: 'mailer', from: 0 }, e => { seen.push(e.position) })
    await sub.caughtUp()
    t.same(seen, Array.from({ length: 15 }, (_, i) => i), 'resumed at 10, from is only for a new name')
    const other: number[] = []
    const fresh = db.subscribe({ name: 'audit', from: 12 }, e => { other.push(e.position) })
    await fresh.caughtUp()
    t.same(other, [12, 13, 14], 'a new name starts at from')
    await db.close() // closes its subscriptions
    db = await f.open()
    const filtered = db.subscribe({ name: 'only-odd', types: ['Odd'] }, () => {})
    await filtered.caughtUp()
    t.equal(filtered.position, 14)
    await db.close()
  })

  t.test('a handler that throws stops its subscription; a durable one retries that event next time', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await appendMany(db, 10)
    const boom = new Error('boom')
    const errors: Array<[unknown, number | undefined]> = []
    const seen: number[] = []
    const sub = db.subscribe({ name: 'fragile', onError: (err, event) => errors.push([err, event?.position]) }, e => {
      if (e.position === 4) throw boom
      seen.push(e.position)
    })
    await t.rejects(sub.caughtUp(), boom)
    t.same(errors, [[boom, 4]])
    t.same(seen, [0, 1, 2, 3])
    await sub.close()
    await db.close()
    db = await f.open()
    const again: number[] = []
    const retry = db.subscribe({ name: 'fragile' }, e => { again.push(e.position) })
    await retry.caughtUp()
    t.same(again, [4, 5, 6, 7, 8, 9])
    // without onError, the subscription emits 'error'
    const emitted = db.subscribe({}, () => { throw boom })
    const [err, event] = await new Promise<[unknown, RecordedEvent]>(resolve => emitted.once('error', (e, ev) => resolve([e, ev])))
    t.equal(err, boom)
    t.equal(event.position, 0)
    await db.close()
  })

  t.test('subscribe checks its arguments', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const bad: unknown[] = [{ from: -1 }, { from: 'start' }, { types: 'Odd' }, { name: '' }, { onError: 'log' }, 'all']
    for (const o of bad) t.throws(() => db.subscribe(o as never, () => {}), TypeError, JSON.stringify(o))
    t.throws(() => db.subscribe({}, undefined as never), TypeError)
    const seen: number[] = []
    const sub = db.subscribe(e => { seen.push(e.position) })
    await db.append('s', { type: 'T' })
    await until(() => seen.length === 1)
    await sub.close()
    await sub.caughtUp() // it had handled everything before it closed
    await db.append('s', { type: 'T' })
    await t.rejects(sub.caughtUp(), { code: 'ANNALS_NOT_OPEN' }, 'it never will now')
    await db.close()
  })
}
