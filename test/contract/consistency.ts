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
    for (const query of [[{ tags: ['a'] }], [{ types: ['A'] }], [], [{}], [{ types: ['A'] }, { tags: ['a'] }]]) {
      for (const o of [{}, { after: -1 }, { after: 3 }, { limit: 0 }, { after: 0, limit: 1 }]) {
        t.same(await db.read({ query, ...o }), { events: [], head: -1 }, `an empty log: ${JSON.stringify(query)} ${JSON.stringify(o)}`)
      }
    }
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
      [{ tags: ['a'] }, { tags: ['b'] }],
      // the specification's example: types only (OR), tags only (AND), and both
      [{ types: ['A', 'B'] }, { tags: ['a', 'b'] }, { types: ['B', 'C'], tags: ['a', 'c'] }],
      [{ types: ['A', 'C'], tags: ['a', 'b'] }], [{ tags: ['a', 'b', 'c'] }], [{ tags: ['nothing'] }, { types: ['C'] }], [{ types: ['A'] }, {}],
      [{ tags: ['a'] }, { tags: ['a'] }], [{ types: ['C'], tags: ['nothing'] }]
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

  t.test('append conditions: every combination of types, tags, items and after the specification describes', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const log: Array<{ type: string, tags: string[] }> = []
    const write = async (type: string, tags: string[]): Promise<void> => {
      await db.append('s', { type, tags })
      log.push({ type, tags })
    }
    for (const [type, tags] of [['A', ['a']], ['B', ['a', 'b']], ['A', ['b']], ['C', []], ['B', ['b', 'c']], ['A', ['a', 'c']], ['C', ['a', 'b', 'c']]] as const) await write(type, [...tags])
    type Item = { types?: string[], tags?: string[] }
    const firstMatch = (query: Item[], after: number): number | undefined => {
      const i = log.findIndex((e, position) => position > after && (query.length === 0 || query.some(item =>
        (item.types === undefined || item.types.includes(e.type)) && (item.tags ?? []).every(tag => e.tags.includes(tag)))))
      return i < 0 ? undefined : i
    }
    const queries: Item[][] = [
      [], [{}], [{ types: ['A'] }], [{ types: ['A', 'C'] }], [{ tags: ['a'] }], [{ tags: ['a', 'c'] }], [{ types: ['B'], tags: ['b'] }],
      [{ types: ['A', 'B'] }, { tags: ['a', 'b'] }, { types: ['B', 'C'], tags: ['a', 'c'] }], [{ tags: ['c'] }, { types: ['A'] }],
      [{ types: ['nothing'] }], [{ tags: ['nothing'] }], [{ types: ['A'], tags: ['nothing'] }], [{ types: ['C'], tags: ['c'] }, { tags: ['b', 'c'] }]
    ]
    for (const query of queries) {
      const head = log.length - 1
      // no after, after -1, the start, the middle, the last match and past it, the head, past the head
      let last = -1 // the last match
      for (let p = firstMatch(query, -1); p !== undefined; p = firstMatch(query, p)) last = p
      for (const after of [undefined, -1, 0, 3, Math.max(-1, last - 1), last, head, head + 5]) {
        const expected = firstMatch(query, after ?? -1)
        const label = `${JSON.stringify(query)} after ${String(after)}`
        const attempt = db.append('probe', { type: 'Probe', tags: ['probe'] }, { condition: { failIfEventsMatch: query, ...(after === undefined ? {} : { after }) } })
        if (expected === undefined) {
          await attempt
          log.push({ type: 'Probe', tags: ['probe'] })
          t.pass(`${label}: passes`)
        } else {
          await t.rejects(attempt, { code: 'ANNALS_APPEND_CONDITION_FAILED', position: expected }, `${label}: fails at ${expected}`)
        }
      }
    }
    t.same((await collect(db.readAll())).map(e => [e.type, e.tags ?? []]), log.map(e => [e.type, e.tags]), 'only the appends that passed were written')
    await db.close()
  })

  t.test('append conditions: the first conflict, within a batch too; nothing of a failed append is written; retries; misuse', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await db.append('x', [{ type: 'A', tags: ['b'] }, { type: 'B', tags: ['a'] }, { type: 'A', tags: ['a'] }])
    // several items: the lowest conflicting position of any of them
    await t.rejects(db.append('y', { type: 'Y' }, { condition: { failIfEventsMatch: [{ types: ['A'], tags: ['a'] }, { tags: ['a'] }, { types: ['A'] }] } }),
      { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 0 })
    await t.rejects(db.append('y', { type: 'Y' }, { condition: { failIfEventsMatch: [{ types: ['A'], tags: ['a'] }, { tags: ['a'] }], after: 0 } }),
      { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 1 })
    // an event appended earlier in the same batch conflicts as one on disk does
    const head = (await db.read({ query: [] })).head
    const [first, second, third] = await Promise.allSettled([
      db.append('y', [{ type: 'C' }, { type: 'A', tags: ['a', 'z'] }]),
      db.append('y', { type: 'Y' }, { condition: { failIfEventsMatch: [{ tags: ['z'] }], after: head } }),
      db.appendMany([{ stream: 'w', events: { type: 'W' } }], { condition: { failIfEventsMatch: [{ types: ['C'] }], after: head + 1 } })
    ])
    t.match(first, { status: 'fulfilled', value: { position: 4 } })
    t.match(second, { status: 'rejected', reason: { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 4 } })
    t.match(third, { status: 'fulfilled', value: [{ position: 5 }] }, 'a match at or before after does not conflict, in the batch either')
    // a failed condition writes nothing of a multi-event append, nor of any part of an appendMany
    await t.rejects(db.append('z', [{ type: 'Z' }, { type: 'Z' }], { condition: { failIfEventsMatch: [{ types: ['W'] }] } }), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 5 })
    await t.rejects(db.appendMany([{ stream: 'z', events: { type: 'Z' } }, { stream: 'v', events: [{ type: 'V' }, { type: 'V' }] }],
      { condition: { failIfEventsMatch: [{ types: ['W'] }], after: 4 } }), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: 5 })
    t.same([await db.revision('z'), await db.revision('v'), (await db.read({ query: [] })).head], [-1, -1, 5], 'nothing written')
    // a condition and an expectation both hold, or the append fails
    await t.rejects(db.appendMany([{ stream: 'z', events: { type: 'Z' }, expectedRevision: 3 }], { condition: { failIfEventsMatch: [{ types: ['nothing'] }] } }),
      { code: 'ANNALS_WRONG_EXPECTED_REVISION', stream: 'z', expected: 3, actual: -1 })
    // a retry after an unseen success gives the original result, though its own event now matches its condition
    const claim = { id: 'claim-ada', type: 'UsernameClaimed', tags: ['username:ada'] }
    const condition = { failIfEventsMatch: [{ types: ['UsernameClaimed'], tags: ['username:ada'] }] }
    const claimed = await db.append('user-1', claim, { condition })
    t.same(await db.append('user-1', claim, { condition }), claimed, 'a retry')
    await db.close()
    db = await f.open()
    t.same(await db.append('user-1', claim, { condition }), claimed, 'a retry after reopening')
    await t.rejects(db.append('user-2', { ...claim, id: 'claim-ada-2' }, { condition }), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: claimed.position }, 'after reopening, from the tag index on disk')
    // misuse is a TypeError, and writes nothing
    const bad: unknown[] = [
      null, 'q', {}, { after: 3 }, { failIfEventsMatch: {} }, { failIfEventsMatch: [], after: -2 }, { failIfEventsMatch: [], after: 1.5 },
      { failIfEventsMatch: [], after: '3' }, { failIfEventsMatch: [], before: 3 }, { failIfEventsMatch: [null] }, { failIfEventsMatch: [{ types: [''] }] },
      { failIfEventsMatch: [{ tags: 'a' }] }, { failIfEventsMatch: [{ tags: [1] }] }, { failIfEventsMatch: [{ kinds: ['A'] }] }
    ]
    for (const condition of bad) {
      await t.rejects(db.append('m', { type: 'M' }, { condition } as never), TypeError, `append, condition ${JSON.stringify(condition)}`)
      await t.rejects(db.appendMany([{ stream: 'm', events: { type: 'M' } }], { condition } as never), TypeError, `appendMany, condition ${JSON.stringify(condition)}`)
    }
    for (const options of [null, 'q', { query: 'q' }, { query: [], after: -2 }, { query: [], limit: -1 }, { query: [], from: 0 }, { query: [{ types: [''] }] }]) {
      await t.rejects(db.read(options as never), TypeError, `read(${JSON.stringify(options)})`)
    }
    await t.rejects(db.read(undefined as never), TypeError, 'read() needs a query')
    // an append of no events is refused by the specification and by annals, in any part
    await t.rejects(db.appendMany([{ stream: 'm', events: { type: 'M' } }, { stream: 'n', events: [] }]), { code: 'ANNALS_INVALID_EVENT' })
    await t.rejects(db.append('m', [], { condition: { failIfEventsMatch: [{ types: ['nothing'] }] } }), { code: 'ANNALS_INVALID_EVENT' })
    t.equal(await db.revision('m'), -1, 'nothing written')
    await db.close()
  })

  // BUG (todo): an empty `types` keeps nothing in readAll and subscribe, but readAll with `tags` or `streams` as well puts
  // it in a query item, where an empty list means any type. The assertions run, and report as todo until it is fixed.
  t.test('append conditions: an event a change before it hides does not conflict, in the same batch too, and the search goes on past it', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const claim = { failIfEventsMatch: [{ types: ['Claimed'], tags: ['photo:1'] }] }
    await db.append('old', { type: 'Claimed', tags: ['photo:1'] })
    // called together (one batch where the backend groups them): the deletion comes first
    const [deleted, claimed] = await Promise.allSettled([
      db.deleteStream('old'),
      db.append('new', { type: 'Claimed', tags: ['photo:1'] }, { condition: claim })
    ])
    t.equal(deleted.status, 'fulfilled')
    t.equal(claimed.status, 'fulfilled', 'the deleted claim does not conflict')
    await t.rejects(db.append('newer', { type: 'Claimed', tags: ['photo:1'] }, { condition: claim }), { code: 'ANNALS_APPEND_CONDITION_FAILED' }, 'the new one does')
    // one after the other, with a conflict that reads after the one deleted
    const other = { failIfEventsMatch: [{ tags: ['photo:2'] }] }
    await db.append('old-2', { type: 'Claimed', tags: ['photo:2'] })
    await db.deleteStream('old-2')
    t.ok(await db.append('new-2', { type: 'Claimed', tags: ['photo:2'] }, { condition: other }), 'a claim deleted before does not conflict')
    const kept = await db.append('kept-2', { type: 'Noted', tags: ['photo:2'] })
    await db.deleteStream('new-2')
    await t.rejects(db.append('newer-2', { type: 'Claimed' }, { condition: other }), { code: 'ANNALS_APPEND_CONDITION_FAILED', position: kept.position }, 'past the deleted ones, the first that reads')
    await db.close()
  })

  t.test('readAll by types and tags (and by types and a category) keeps no more than readAll by types alone', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s-1', [{ type: 'A', tags: ['a'] }, { type: 'B' }, { type: 'A', tags: ['a', 'b'] }])
    t.same(await collect(db.readAll({ types: [] })), [])
    const seen: number[] = []
    const sub = db.subscribe({ types: [], tags: ['a'] }, e => { seen.push(e.position) })
    await sub.caughtUp()
    await sub.close()
    t.same(seen, [], 'subscribe, with tags')
    // readAll put types [] in a query item, where an empty list means any type: it kept them all
    t.same((await collect(db.readAll({ types: [], tags: ['a'] }))).map(e => e.position), [], 'readAll, with tags')
    t.same((await collect(db.readAll({ types: [], streams: { prefix: 's-' } }))).map(e => e.position), [], 'readAll, with a category')
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
