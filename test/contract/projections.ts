// Contract: projections. Inline, async and a plain fold agree on random logs, as of every
// position; reopening resumes without double-applying; a new version rebuilds beside the served
// view; failures stop what they must and nothing else; queries, status and arguments.
import { deepStrictEqual, equal } from 'node:assert/strict'
import type { Test } from 'tap'
import fc from 'fast-check'
import { defineProjection, type Projection } from '../../src/index.js'
import { readRecords } from '../../src/projections/checkpoints.js'
import { GARBAGE_RANGE } from '../../src/projections/keys.js'
import { Space, spaceEnd, spaceStart } from '../../src/storage/keys.js'
import { internalsOf } from '../../src/store/internals.js'
import { collect, type Backend } from '../helpers/backends.js'

import { KEYS, appendAll, fold, sorted, sums, type Ev } from '../helpers/sums.js'
import { inlineMode, inlineRefused } from './inline.js'

export function projectionContract (t: Test, backend: Backend): void {
  const runs = backend.onDisk ? 6 : 15
  const INLINE = inlineMode(backend)

  t.test('inline equals async equals a fold, now and as of any past position, across reopens', async t => {
    const evArb = fc.record({ stream: fc.constantFrom('s0', 's1', 's2'), type: fc.constantFrom('Add', 'Add', 'Del', 'Noise'), n: fc.nat(40) }) as fc.Arbitrary<Ev>
    const step = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), events: fc.array(evArb, { minLength: 1, maxLength: 30 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('lateAsync' as const) }) }
    )
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), async (steps, picks) => {
      const f = await backend.make()
      let db = await f.open()
      try {
        let inline = await db.project(sums('inline', INLINE))
        let async = await db.project(sums('async', 'async'))
        let late: Projection<number> | undefined
        for (const s of steps) {
          if (s.kind === 'append') {
            await appendAll(db, s.events)
            if (INLINE !== 'inline') await inline.caughtUp()
            // inline views are current the moment the appends resolve
            deepStrictEqual(await collect(inline.query()), sorted(fold(await collect(db.readAll()))), 'inline is current')
          } else if (s.kind === 'reopen') {
            await db.close()
            db = await f.open()
            inline = await db.project(sums('inline', INLINE))
            async = await db.project(sums('async', 'async'))
            late = undefined
          } else if (late === undefined) {
            late = await db.project(sums('late', 'async'))
          }
        }
        const log = await collect(db.readAll())
        const expected = sorted(fold(log))
        await async.caughtUp()
        await inline.caughtUp()
        await late?.caughtUp()
        deepStrictEqual(await collect(inline.query()), expected, 'inline')
        deepStrictEqual(await collect(async.query()), expected, 'async')
        if (late !== undefined) deepStrictEqual(await collect(late.query()), expected, 'a projection registered later')
        for (const pick of picks) {
          const position = log.length === 0 ? 0 : pick % log.length
          const then = sorted(fold(log.slice(0, position + 1)))
          for (const p of [inline, async]) {
            const past = await p.at({ position })
            deepStrictEqual(await collect(past.query()), then, `query as of ${position}`)
            const key = KEYS[pick % KEYS.length]!
            equal(await past.get(key), new Map(then).get(key), `get as of ${position}`)
          }
        }
      } finally {
        await db.close()
        await f.cleanup()
      }
    }), { numRuns: runs })
    t.pass(`${runs} random logs`)
  })

  t.test('query: bounds, limit and reverse in UTF-8 byte order, now and as of a position', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const view = await db.project(sums('q', INLINE))
    for (const [i, k] of KEYS.entries()) await db.append('s', { type: 'Add', data: { k, n: i + 1 } })
    await db.append('s', { type: 'Del', data: { k: 'b', n: 0 } })
    const position = (await db.append('s', { type: 'Add', data: { k: 'a', n: 100 } })).position
    await view.caughtUp()
    const now = sorted(fold(await collect(db.readAll())))
    const before = sorted(fold((await collect(db.readAll())).slice(0, position)))
    const bounds = fc.record({
      low: fc.option(fc.tuple(fc.constantFrom('gt', 'gte'), fc.constantFrom(...KEYS, '', 'a\u0000\u0000', 'zz'))),
      high: fc.option(fc.tuple(fc.constantFrom('lt', 'lte'), fc.constantFrom(...KEYS, '', 'a\u0000\u0000', 'zz'))),
      limit: fc.option(fc.nat(12)),
      reverse: fc.boolean()
    })
    await fc.assert(fc.asyncProperty(bounds, async b => {
      const options: Record<string, unknown> = { reverse: b.reverse }
      if (b.low !== null) options[b.low[0]] = b.low[1]
      if (b.high !== null) options[b.high[0]] = b.high[1]
      if (b.limit !== null) options.limit = b.limit
      const select = (rows: Array<[string, number]>): Array<[string, number]> => {
        const cmp = (a: string, c: string): number => Buffer.compare(Buffer.from(a), Buffer.from(c))
        let out = rows.filter(([k]) => (b.low === null || (b.low[0] === 'gt' ? cmp(k, b.low[1]) > 0 : cmp(k, b.low[1]) >= 0)) &&
          (b.high === null || (b.high[0] === 'lt' ? cmp(k, b.high[1]) < 0 : cmp(k, b.high[1]) <= 0)))
        if (b.reverse) out = out.reverse()
        return b.limit === null ? out : out.slice(0, b.limit)
      }
      deepStrictEqual(await collect(view.query(options)), select(now), JSON.stringify(options))
      deepStrictEqual(await collect((await view.at({ position: position - 1 })).query(options)), select(before), `at: ${JSON.stringify(options)}`)
    }), { numRuns: 60 })
    t.pass('60 random queries')
    t.equal(await view.get('nothing'), undefined, 'a missing key is undefined')
    await db.close()
  })

  t.test('reopening resumes from the checkpoint: no event applied twice, none skipped', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    let handled = 0
    const Counter = defineProjection<number>({
      name: 'counter',
      async handle (e, view) { handled++; view.put(e.stream, (await view.get(e.stream) ?? 0) + 1) }
    })
    await Promise.all(Array.from({ length: 3000 }, async (_, i) => await db.append(`s${i % 3}`, { type: 'T' })))
    let counter = await db.project(Counter)
    await counter.caughtUp()
    await db.close()
    t.equal(handled, 3000)
    db = await f.open()
    await Promise.all(Array.from({ length: 30 }, async (_, i) => await db.append(`s${i % 3}`, { type: 'T' })))
    counter = await db.project(Counter)
    await counter.caughtUp()
    t.equal(handled, 3030, 'only the new events are handled again')
    t.same(await collect(counter.query()), [['s0', 1010], ['s1', 1010], ['s2', 1010]])
    t.same(counter.status(), { position: 3029, lag: 0, state: 'live', error: undefined, failedAt: undefined })
    await db.close()
  })

  t.test('a new version rebuilds beside the served view and swaps it in when caught up', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    const define = (version: number, gate?: Promise<void>) => defineProjection<number>({
      name: 'versioned',
      version,
      async handle (e, view) {
        if (gate !== undefined && e.position === 1999) await gate
        view.put('total', (await view.get('total') ?? 0) + version)
      }
    })
    await Promise.all(Array.from({ length: 2000 }, async () => await db.append('s', { type: 'T' })))
    const v1 = await db.project(define(1))
    await v1.caughtUp()
    t.equal(await v1.get('total'), 2000)
    await db.close()
    db = await f.open()
    let open!: () => void
    const gate = new Promise<void>(resolve => { open = resolve })
    const v2 = await db.project(define(2, gate))
    while (v2.status().position < 900) await new Promise(resolve => setTimeout(resolve, 2))
    t.equal(v2.status().state, 'rebuilding')
    t.equal(await v2.get('total'), 2000, 'reads serve the old view meanwhile')
    t.equal(await (await v2.at({ position: 99 })).get('total'), 100, 'and so does time travel, where it can')
    await db.append('s', { type: 'T' })
    const caughtUp = v2.caughtUp()
    open()
    await caughtUp
    t.equal(await v2.get('total'), 4002, 'swapped in, and live')
    t.equal(v2.status().state, 'live')
    t.equal(await (await v2.at({ position: 99 })).get('total'), 200, 'history is the new version\'s')
    await v2.rebuild()
    t.equal(await v2.get('total'), 4002, 'rebuild() gives the same view')
    // the old generations (version 1's, and version 2's first build) are deleted behind
    const storage = internalsOf(db).log.storage
    const gens = async (): Promise<number[]> => {
      const found = new Set<number>()
      for (const space of [Space.views, Space.history]) {
        for (const key of await storage.allKeys({ gte: spaceStart(space), lt: spaceEnd(space) })) found.add(key.readUInt32BE(1))
      }
      return [...found]
    }
    const active = (await readRecords(storage, 'versioned')).active!.gen
    for (let i = 0; i < 200 && (await gens()).length > 1; i++) await new Promise(resolve => setTimeout(resolve, 10))
    t.same(await gens(), [active], 'only the generation in use has documents and history left')
    t.same(await storage.allKeys(GARBAGE_RANGE), [], 'and no generation is left marked for deletion')
    t.equal(await v2.get('total'), 4002)
    await db.close()
  })

  t.test('an async handler that throws stops its projection at that event, and only it', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await Promise.all(Array.from({ length: 100 }, async (_, i) => await db.append('s', { type: 'T', data: i })))
    let broken = true
    const boom = new Error('boom')
    const Fragile = defineProjection<number>({
      name: 'fragile',
      async handle (e, view) {
        view.put(`k${e.data as number}`, e.data)
        if (broken && e.data === 42) throw boom
      }
    })
    const Sturdy = defineProjection<number>({ name: 'sturdy', async handle (_e, view) { view.put('n', (await view.get('n') ?? 0) + 1) } })
    const fragile = await db.project(Fragile)
    const sturdy = await db.project(Sturdy)
    const err = await fragile.caughtUp().then(() => undefined, (e: unknown) => e) as { code: string, cause: unknown }
    t.equal(err?.code, 'ANNALS_PROJECTION_FAILED')
    t.equal(err.cause, boom)
    const status = fragile.status()
    t.same([status.state, status.position, status.failedAt, status.lag], ['failed', 41, 42, 58])
    t.equal(status.error, err)
    t.equal(await fragile.get('k41'), 41, 'the events before it are kept')
    t.equal(await fragile.get('k42'), undefined, 'none of the failed event\'s writes are kept')
    await t.rejects(fragile.caughtUp(), { code: 'ANNALS_PROJECTION_FAILED' }, 'caughtUp rejects rather than waits')
    await sturdy.caughtUp()
    t.equal(await sturdy.get('n'), 100, 'the others go on')
    broken = false
    await fragile.rebuild()
    t.equal((await collect(fragile.query())).length, 100, 'rebuild() restarts it')
    t.equal(fragile.status().state, 'live')
    await db.close()
  })

  t.test('an inline handler that throws fails that append alone, and nothing of it is written', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    if (await inlineRefused(t, backend, f)) return
    const db = await f.open()
    const boom = new Error('no negative photos')
    const Sizes = defineProjection<number>({
      name: 'sizes',
      mode: 'inline',
      async handle (e, view) {
        const used = await view.get(e.stream) ?? 0
        view.put(e.stream, used + (e.data as number))
        if ((e.data as number) < 0) throw boom
      }
    })
    const Count = defineProjection<number>({ name: 'count', mode: 'inline', async handle (_e, view) { view.put('n', (await view.get('n') ?? 0) + 1) } })
    const sizes = await db.project(Sizes)
    const count = await db.project(Count)
    const results = await Promise.allSettled([
      db.append('u1', { type: 'Added', data: 5 }),
      db.append('u1', [{ type: 'Added', data: 7 }, { type: 'Added', data: -1 }]),
      db.append('u2', { type: 'Added', data: 3 }),
      db.append('u1', { type: 'Added', data: 10 })
    ])
    t.same(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    const reason = (results[1] as PromiseRejectedResult).reason as { code: string, cause: unknown }
    t.equal(reason.code, 'ANNALS_PROJECTION_FAILED')
    t.equal(reason.cause, boom)
    t.same((await collect(db.readAll())).map(e => e.data), [5, 3, 10], 'the failed append wrote no event')
    t.same(await collect(sizes.query()), [['u1', 15], ['u2', 3]], 'later appends of the batch saw the earlier ones, not the failed one')
    t.equal(await count.get('n'), 3, 'nor did any other projection keep its writes')
    t.equal(sizes.status().state, 'live', 'an inline projection goes on')
    await db.close()
  })

  t.test('status, lag and caughtUp; at by time; a projection without history', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const Slow = defineProjection<number>({ name: 'slow', history: false, async handle (e, view) { await gate; view.put('n', e.position) } })
    for (let i = 0; i < 5; i++) await db.append('s', { type: 'T' })
    const slow = await db.project(Slow)
    const s = slow.status()
    t.same([s.state, s.position, s.lag], ['catching-up', -1, 5])
    release()
    await slow.caughtUp()
    t.same(slow.status(), { position: 4, lag: 0, state: 'live', error: undefined, failedAt: undefined })
    await t.rejects(slow.at({ position: 1 }), { code: 'ANNALS_HISTORY_UNAVAILABLE' })

    const Times = defineProjection<number>({ name: 'times', mode: INLINE, async handle (e, view) { view.put('last', e.position) } })
    const times = await db.project(Times)
    const { position } = await db.append('s', { type: 'T' })
    const at = (await collect(db.readAll({ from: position }))).at(0)!.time
    await new Promise(resolve => setTimeout(resolve, 5))
    await db.append('s', { type: 'T' })
    t.equal(await (await times.at({ time: at })).get('last'), position, 'at a time: as of the last event then')
    t.equal(await (await times.at({ time: new Date(at - 60_000) })).get('last'), undefined, 'before the first event: empty')
    t.equal((await times.at({ time: new Date(at - 60_000) })).position, -1)
    t.equal((await times.at({ position: 10_000 })).position, position + 1, 'a position past the end means the end')
    await db.close()
  })

  t.test('an inline projection whose catch-up fails is not registered', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    if (await inlineRefused(t, backend, f)) return
    const db = await f.open()
    await db.append('s', [{ type: 'T', data: 1 }, { type: 'T', data: 2 }])
    const Strict = defineProjection<number>({
      name: 'strict',
      mode: 'inline',
      handle: (e, view) => {
        if (e.data === 2) throw new Error('two')
        view.put('n', e.data)
      }
    })
    await t.rejects(db.project(Strict), { code: 'ANNALS_PROJECTION_FAILED' })
    t.match(await db.append('s', { type: 'T', data: 2 }), { revision: 2, position: 2 }, 'appends do not go through it')
    await t.rejects(db.project(Strict), { code: 'ANNALS_PROJECTION_FAILED' }, 'registering again retries, and fails again')
    await db.close()
  })

  t.test('arguments are checked', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const good = { name: 'p', handle: () => {} }
    for (const bad of [undefined, 'p', { ...good, name: '' }, { ...good, version: 0 }, { ...good, mode: 'sync' }, { ...good, types: 'T' }, { ...good, handle: 1 }, { ...good, history: 'yes' }]) {
      t.throws(() => defineProjection(bad as never), TypeError)
      await t.rejects(db.project(bad as never), TypeError)
    }
    const p = await db.project(defineProjection(good))
    t.equal((await db.project(defineProjection(good))).name, 'p', 'the same definition again is fine')
    await t.rejects(db.project(defineProjection({ ...good, version: 2 })), { code: 'ANNALS_ALREADY_PROJECTED' })
    await t.rejects(p.get(1 as never), TypeError)
    await t.rejects(p.get('\ud800'), TypeError)
    await t.rejects(collect(p.query({ limit: -1 })), TypeError)
    await t.rejects(collect(p.query({ gt: 'a', gte: 'b' })), TypeError)
    await t.rejects(p.at({} as never), TypeError)
    await t.rejects(p.at({ position: -1 }), TypeError)
    await t.rejects(p.at({ time: 'now' } as never), TypeError)
    const Bad = defineProjection({ name: 'bad-doc', mode: 'inline', handle: (_e, view) => { view.put('k', () => 1) } })
    if (INLINE === 'inline') {
      await db.project(Bad)
      await t.rejects(db.append('s', { type: 'T' }), { code: 'ANNALS_PROJECTION_FAILED', cause: TypeError })
    } else {
      await t.rejects(db.project(Bad), { code: 'ANNALS_INLINE_UNAVAILABLE' })
    }
    await db.close()
    await t.rejects(p.get('k'), { code: 'ANNALS_NOT_OPEN' })
    await t.rejects(db.project(defineProjection(good)), { code: 'ANNALS_NOT_OPEN' })
  })

  t.test('an inline projection handed over behind keeps the events it caught up on, even when the batch it joins writes nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    if (await inlineRefused(t, backend, f)) return
    let db = await f.open()
    await db.append('x', { type: 'A' })
    let release!: () => void
    const held = new Promise<void>(resolve => { release = resolve })
    let holding = true
    const P = defineProjection<number>({
      name: 'p',
      mode: 'inline',
      async handle (e, view) {
        if (e.type === 'Bad') throw new Error('bad')
        if (holding && e.position === 0) await held
        view.put(`k${e.position}`, e.position)
      }
    })
    const registering = db.project(P)
    await new Promise(resolve => setTimeout(resolve, 20)) // its first build waits in the handler of position 0
    for (let i = 0; i < 3; i++) await db.append('y', { type: 'A' }) // positions 1 to 3, while it builds
    holding = false
    release()
    // built up to position 0, it is handed over to the append path, behind: the next batch catches it up
    const view = await registering
    // the only append of that batch fails in the handler: the batch writes nothing
    await t.rejects(db.append('z', { type: 'Bad' }), { code: 'ANNALS_PROJECTION_FAILED' })
    await db.append('z', { type: 'A' })
    await view.caughtUp()
    const docs = async (v: Projection<number>): Promise<unknown[]> => await Promise.all([0, 1, 2, 3, 4].map(async p => await v.get(`k${p}`)))
    t.same(await docs(view), [0, 1, 2, 3, 4])
    await db.close()
    db = await f.open()
    t.same(await docs(await db.project(P)), [0, 1, 2, 3, 4], 'and after reopen')
    await db.close()
  })
}
