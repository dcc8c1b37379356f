// Consistency beyond one stream, on every backend: appends to several streams at once, tags and
// the reads they allow, append conditions (the Dynamic Consistency Boundary model), categories
// of streams, and errors that carry their facts.
import type { Test } from 'tap'
import type { RecordedEvent } from '../../src/index.js'
import { collect, type Backend } from '../helpers/backends.js'

const positions = (events: RecordedEvent[]): number[] => events.map(e => e.position)

export function consistencyContract (t: Test, backend: Backend): void {
  t.test('appendMany writes every part or none; a failure names its part', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('a', { type: 'Opened' })
    const results = await db.appendMany([
      { stream: 'a', events: { type: 'Withdrawn', data: 30 }, expectedRevision: 0 },
      { stream: 'b', events: [{ type: 'Opened' }, { type: 'Deposited', data: 30 }], expectedRevision: 'no_stream' }
    ])
    t.match(results, [{ revision: 1, position: 1 }, { revision: 1, position: 3 }])
    t.equal(results[1]!.ids.length, 2)
    t.same((await collect(db.readAll())).map(e => [e.stream, e.revision, e.position]), [['a', 0, 0], ['a', 1, 1], ['b', 0, 2], ['b', 1, 3]])
    // the second part's expectation fails: nothing of the first is written
    const err = await db.appendMany([
      { stream: 'a', events: { type: 'Withdrawn' }, expectedRevision: 1 },
      { stream: 'b', events: { type: 'Deposited' }, expectedRevision: 0 }
    ]).catch((e: unknown) => e)
    t.match(err, { code: 'ANNALS_WRONG_EXPECTED_REVISION', stream: 'b', expected: 0, actual: 1 })
    t.equal(await db.revision('a'), 1, 'nothing written')
    t.equal((await collect(db.readAll())).length, 4)
    // two parts of one stream: the second expects the first's revisions
    t.match(await db.appendMany([
      { stream: 'c', events: { type: 'X' }, expectedRevision: 'no_stream' },
      { stream: 'c', events: { type: 'Y' }, expectedRevision: 0 }
    ]), [{ revision: 0, position: 4 }, { revision: 1, position: 5 }])
    // an idempotent retry of the whole
    const parts = [
      { stream: 'd', events: { id: 'd-1', type: 'X' } },
      { stream: 'e', events: { id: 'e-1', type: 'Y', tags: ['t'] } }
    ]
    const first = await db.appendMany(parts)
    t.same(await db.appendMany(parts), first, 'a retry returns the original results')
    await t.rejects(db.appendMany([parts[0]!, { stream: 'e', events: { id: 'e-2', type: 'Y' } }]), { code: 'ANNALS_DUPLICATE_ID' }, 'partly stored')
    await t.rejects(db.appendMany([]), { code: 'ANNALS_INVALID_EVENT' })
    await t.rejects(db.appendMany([{ stream: 'x', events: { type: 'X' }, expected: 1 } as never]), TypeError, 'an unknown key')
    await db.close()
  })

  t.test('a wrong expected revision says which stream, what was expected and what it is', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', [{ type: 'A' }, { type: 'B' }])
    t.match(await db.append('s', { type: 'C' }, { expectedRevision: 0 }).catch((e: unknown) => e),
      { code: 'ANNALS_WRONG_EXPECTED_REVISION', stream: 's', expected: 0, actual: 1 })
    t.match(await db.append('n', { type: 'C' }, { expectedRevision: 'stream_exists' }).catch((e: unknown) => e),
      { code: 'ANNALS_WRONG_EXPECTED_REVISION', stream: 'n', expected: 'stream_exists', actual: -1 })
    const r = await db.append('s', [{ id: 'given', type: 'C' }, { type: 'D' }])
    t.equal(r.ids[0], 'given')
    t.match(r.ids[1], /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'generated ids are returned')
    t.same((await collect(db.readStream('s', { from: 2 }))).map(e => e.id), r.ids)
    await db.close()
  })

  t.test('tags are stored, read back, and read by', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await db.append('courses', { type: 'CourseDefined', data: { capacity: 2 }, tags: ['course:3'] })
    await db.append('s-7', { type: 'Enrolled', tags: ['course:3', 'student:7'] })
    await db.append('s-8', { type: 'Enrolled', tags: ['course:4', 'student:8'] })
    await db.append('s-7', { type: 'Enrolled', tags: ['course:4', 'student:7', 'student:7'] })
    await db.append('other', { type: 'Noted' })
    const all = await collect(db.readAll())
    t.same(all.map(e => e.tags), [['course:3'], ['course:3', 'student:7'], ['course:4', 'student:8'], ['course:4', 'student:7'], undefined], 'tags come back, once each, absent when none')
    t.same(positions(await collect(db.readAll({ tags: ['course:3'] }))), [0, 1])
    t.same(positions(await collect(db.readAll({ tags: ['course:4', 'student:7'] }))), [3], 'every tag')
    t.same(positions(await collect(db.readAll({ tags: ['course:3'], types: ['Enrolled'] }))), [1])
    t.same(positions(await collect(db.readAll({ tags: ['student:7'], backwards: true }))), [3, 1])
    t.same(positions(await collect(db.readAll({ tags: ['student:7'], from: 2 }))), [3])
    t.same(positions(await collect(db.readAll({ tags: ['nothing'] }))), [])
    await db.close()
    db = await f.open()
    t.same(positions(await collect(db.readAll({ tags: ['course:4'] }))), [2, 3], 'after reopening')
    await t.rejects(db.append('x', { type: 'X', tags: ['ok', ''] }), { code: 'ANNALS_INVALID_EVENT' })
    await t.rejects(db.append('x', { type: 'X', tags: 'course:3' as never }), { code: 'ANNALS_INVALID_EVENT' })
    await t.rejects(db.append('x', { type: 'X', tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }), { code: 'ANNALS_INVALID_EVENT' })
    await t.rejects(db.append('x', { type: 'X', tags: ['x'.repeat(257)] }), { code: 'ANNALS_INVALID_EVENT' })
    t.equal(await db.revision('x'), -1, 'nothing written')
    await db.close()
  })

  t.test('read: a query\'s items (types OR, tags AND, items OR), after, limit, and the head', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    t.same(await db.read({ query: [{ tags: ['a'] }] }), { events: [], head: -1 }, 'an empty log')
    const log: Array<[string, string[]]> = [
      ['A', ['a']], ['B', ['a', 'b']], ['A', ['b']], ['C', []], ['B', ['b', 'c']], ['A', ['a', 'c']], ['C', ['a', 'b', 'c']]
    ]
    for (const [type, tags] of log) await db.append('s', { type, tags })
    const matching = (query: Array<{ types?: string[], tags?: string[] }>, after = -1, limit = Infinity): number[] => {
      const out: number[] = []
      log.forEach(([type, tags], position) => {
        if (position <= after || out.length >= limit) return
        const match = query.length === 0 || query.some(item =>
          (item.types === undefined || item.types.length === 0 || item.types.includes(type)) &&
          (item.tags ?? []).every(tag => tags.includes(tag)))
        if (match) out.push(position)
      })
      return out
    }
    const queries = [
      [], [{ types: ['A'] }], [{ tags: ['a'] }], [{ types: ['A', 'B'], tags: ['a'] }], [{ tags: ['a', 'c'] }],
      [{ types: ['C'] }, { tags: ['b'] }], [{ types: ['B'], tags: ['b'] }, { types: ['A'], tags: ['c'] }], [{}], [{ types: ['nothing'] }],
      [{ tags: ['a'] }, { tags: ['b'] }]
    ]
    for (const query of queries) {
      for (const after of [undefined, -1, 0, 2, 5, 6, 9]) {
        for (const limit of [undefined, 0, 1, 2, 100]) {
          const { events, head } = await db.read({ query, ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) })
          t.same(positions(events), matching(query, after ?? -1, limit ?? Infinity), `${JSON.stringify(query)} after ${String(after)} limit ${String(limit)}`)
          if (head !== 6) t.fail(`head ${head}`)
        }
      }
    }
    await t.rejects(db.read({ query: [{ types: 'A' }] as never }), TypeError)
    await t.rejects(db.read({ query: [{ tipes: ['A'] }] as never }), TypeError)
    await t.rejects(db.read({ query: [], after: -2 }), TypeError)
    await db.close()
  })

  t.test('append conditions: fail on a match past after, naming it; pass otherwise; checked with the write', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const query = [{ types: ['Enrolled'], tags: ['course:3'] }]
    let { events, head } = await db.read({ query })
    t.same([events.length, head], [0, -1])
    await db.append('s-1', { type: 'Enrolled', tags: ['course:3'] }, { condition: { failIfEventsMatch: query, after: head } })
    // a decision made on the old state fails: the event above matches past -1
    const stale = await db.append('s-2', { type: 'Enrolled', tags: ['course:3'] }, { condition: { failIfEventsMatch: query, after: head } }).catch((e: unknown) => e)
    t.match(stale, { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 0 })
    t.equal(await db.revision('s-2'), -1, 'nothing written');
    ({ events, head } = await db.read({ query }))
    t.same([events.length, head], [1, 0])
    await db.append('s-2', { type: 'Enrolled', tags: ['course:3'] }, { condition: { failIfEventsMatch: query, after: head } })
    // without after: any match fails; events that do not match do not
    await t.rejects(db.append('x', { type: 'X' }, { condition: { failIfEventsMatch: query } }), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 0 })
    await db.append('x', { type: 'X' }, { condition: { failIfEventsMatch: [{ types: ['Enrolled'], tags: ['course:4'] }] } })
    await db.append('x', { type: 'X' }, { condition: { failIfEventsMatch: [{ types: ['Nothing'] }] } })
    await t.rejects(db.append('x', { type: 'X' }, { condition: { failIfEventsMatch: [] } }), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 0 }, 'an empty query matches any event')
    // two concurrent appends that each break the other's condition: one wins
    ;({ head } = await db.read({ query }))
    const both = await Promise.allSettled([1, 2].map(async i => await db.append(`c-${i}`, { type: 'Enrolled', tags: ['course:3'] }, { condition: { failIfEventsMatch: query, after: head } })))
    t.same(both.map(r => r.status).sort(), ['fulfilled', 'rejected'])
    // with appendMany too, and a condition on types alone (no tag: a scan)
    await t.rejects(db.appendMany([{ stream: 'm', events: { type: 'M' } }], { condition: { failIfEventsMatch: [{ types: ['X'] }], after: -1 } }), { code: 'ANNALS_APPEND_CONDITION_FAILED' })
    const h = (await db.read({ query: [{ types: ['X'] }] })).head
    await db.appendMany([{ stream: 'm', events: { type: 'M' } }], { condition: { failIfEventsMatch: [{ types: ['X'] }], after: h } })
    await t.rejects(db.append('x', { type: 'X' }, { condition: { failIfEventsMatch: 'q' } as never }), TypeError)
    await db.close()
  })

  t.test('the uniqueness example: a username claimed by at most one of 64 concurrent claims', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const claim = async (user: number): Promise<boolean> => {
      const query = [{ types: ['UsernameClaimed'], tags: ['username:ada'] }]
      const { events, head } = await db.read({ query })
      if (events.length > 0) return false
      try {
        await db.append(`user-${user}`, { type: 'UsernameClaimed', data: { username: 'ada' }, tags: ['username:ada'] }, { condition: { failIfEventsMatch: query, after: head } })
        return true
      } catch (err) {
        if ((err as { code?: string }).code === 'ANNALS_APPEND_CONDITION_FAILED') return false
        throw err
      }
    }
    const won = await Promise.all(Array.from({ length: 64 }, async (_, i) => await claim(i)))
    t.equal(won.filter(Boolean).length, 1, 'exactly one claim succeeded')
    t.equal((await collect(db.readAll({ tags: ['username:ada'] }))).length, 1)
    await db.close()
  })

  t.test('the course example: capacity and the student\'s limit both hold under concurrent enrolments', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const capacity = 3
    const maxCourses = 2
    const enrol = async (student: number, course: number): Promise<boolean> => {
      for (;;) {
        const query = [{ types: ['StudentEnrolled'], tags: [`course:${course}`] }, { types: ['StudentEnrolled'], tags: [`student:${student}`] }]
        const { events, head } = await db.read({ query })
        const inCourse = events.filter(e => e.tags?.includes(`course:${course}`)).length
        const ofStudent = events.filter(e => e.tags?.includes(`student:${student}`)).length
        if (inCourse >= capacity || ofStudent >= maxCourses) return false
        try {
          await db.append(`student-${student}`, { type: 'StudentEnrolled', tags: [`course:${course}`, `student:${student}`] }, { condition: { failIfEventsMatch: query, after: head } })
          return true
        } catch (err) {
          if ((err as { code?: string }).code !== 'ANNALS_APPEND_CONDITION_FAILED') throw err
          // someone else enrolled meanwhile: decide again
        }
      }
    }
    const attempts: Array<[number, number]> = []
    for (let s = 0; s < 6; s++) for (let c = 0; c < 3; c++) attempts.push([s, c])
    await Promise.all(attempts.map(async ([s, c]) => await enrol(s, c)))
    const enrolled = await collect(db.readAll({ types: ['StudentEnrolled'] }))
    for (let c = 0; c < 3; c++) t.ok(enrolled.filter(e => e.tags!.includes(`course:${c}`)).length <= capacity, `course ${c} within capacity`)
    for (let s = 0; s < 6; s++) t.ok(enrolled.filter(e => e.tags!.includes(`student:${s}`)).length <= maxCourses, `student ${s} within the limit`)
    t.equal(enrolled.length, Math.min(3 * capacity, 6 * maxCourses), 'as many as the rules allow')
    await db.close()
  })

  t.test('categories: reads and subscriptions of the streams with a prefix, as a filter of the log gives', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    for (let i = 0; i < 120; i++) await db.append(i % 5 === 0 ? `cart-${i % 3}` : `user-${i % 7}`, { type: 'T', data: i })
    const expected = (await collect(db.readAll())).filter(e => e.stream.startsWith('cart-'))
    t.same(await collect(db.readAll({ streams: { prefix: 'cart-' } })), expected)
    t.same(await collect(db.readAll({ streams: { prefix: 'cart-' }, backwards: true })), [...expected].reverse())
    t.same(await collect(db.readAll({ streams: { prefix: 'cart-' }, from: 30, to: 90 })), expected.filter(e => e.position >= 30 && e.position <= 90))
    t.same(await collect(db.readAll({ streams: { prefix: 'cart-' }, limit: 3 })), expected.slice(0, 3))
    t.same(await collect(db.readAll({ streams: { prefix: 'none-' } })), [])
    await db.close()
    db = await f.open()
    t.same(await collect(db.readAll({ streams: { prefix: 'cart-' } })), expected, 'after reopening')
    const seen: number[] = []
    const sub = db.subscribe({ streams: { prefix: 'cart-' } }, e => { seen.push(e.position) })
    await sub.caughtUp()
    await db.append('cart-9', { type: 'T' })
    await db.append('user-1', { type: 'T' })
    await sub.caughtUp()
    t.same(seen, [...expected.map(e => e.position), 120])
    await sub.close()
    const tagged: number[] = []
    await db.append('z', { type: 'T', tags: ['z'] })
    const sub2 = db.subscribe({ tags: ['z'] }, e => { tagged.push(e.position) })
    await sub2.caughtUp()
    t.same(tagged, [122])
    await sub2.close()
    await db.close()
  })
}
