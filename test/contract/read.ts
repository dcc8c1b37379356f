// Contract: reading. Ranges in both directions, limits, type filters, runs, early exits.
import type { Test } from 'tap'
import type { Annals, RecordedEvent } from '../../src/index.js'
import { collect, type Backend } from '../helpers/backends.js'

/** The model of a read: filter `events` (in log order) by an inclusive range over `key`. */
function expected (events: RecordedEvent[], key: 'revision' | 'position', o: { from?: number, to?: number, backwards?: boolean, limit?: number, types?: string[] }): RecordedEvent[] {
  const low = (o.backwards === true ? o.to : o.from) ?? 0
  const high = (o.backwards === true ? o.from : o.to) ?? Infinity
  let out = events.filter(e => e[key] >= low && e[key] <= high && (o.types === undefined || o.types.includes(e.type)))
  if (o.backwards === true) out = out.reverse()
  return o.limit === undefined ? out : out.slice(0, o.limit)
}

async function fill (db: Annals): Promise<void> {
  // runs of several sizes in stream 's', interleaved with other streams, some in one batch
  let n = 0
  for (const size of [1, 3, 1, 40, 2, 1, 100, 5]) {
    await Promise.all([
      db.append('s', Array.from({ length: size }, () => ({ type: n % 3 === 0 ? 'Even' : 'Odd', data: { n: n++ } }))),
      db.append(`o${size}`, { type: 'Other', data: { n: n++ } }),
      db.append('s', { type: 'Single', data: { n: n++ } })
    ])
  }
}

export function readContract (t: Test, backend: Backend): void {
  t.test('readStream and readAll over every range, direction and limit', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await fill(db)
    const all = await collect(db.readAll())
    const stream = all.filter(e => e.stream === 's')
    t.same(await collect(db.readStream('s')), stream)
    t.same(stream.map(e => e.revision), stream.map((_, i) => i), 'revisions are 0..n')
    t.same(all.map(e => e.position), all.map((_, i) => i), 'positions are 0..n')
    const bounds = [undefined, 0, 1, 2, 5, 44, 45, 46, 100, 150, 163, 1000]
    let checked = 0
    for (const from of bounds) {
      for (const to of bounds) {
        for (const backwards of [false, true]) {
          for (const limit of [undefined, 0, 1, 7, 64]) {
            const o = { from, to, backwards, limit }
            t.same(await collect(db.readStream('s', o)), expected(stream, 'revision', o), `readStream ${JSON.stringify(o)}`)
            t.same(await collect(db.readAll(o)), expected(all, 'position', o), `readAll ${JSON.stringify(o)}`)
            checked++
          }
        }
      }
    }
    t.ok(checked > 1000)
    await db.close()
  })

  t.test('readAll filters by type, and the limit counts the events kept', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await fill(db)
    const all = await collect(db.readAll())
    for (const o of [
      { types: ['Even'] }, { types: ['Single', 'Other'], limit: 5 }, { types: ['Other'], backwards: true, limit: 3 },
      { types: [] }, { types: ['Nope'] }, { types: ['Even'], from: 40, to: 120 }
    ]) {
      t.same(await collect(db.readAll(o)), expected(all, 'position', o), JSON.stringify(o))
    }
    await db.close()
  })

  t.test('long reads stream in chunks and agree with each other', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    for (let i = 0; i < 30; i++) {
      await Promise.all(Array.from({ length: 100 }, async (_, j) => await db.append(j % 2 === 0 ? 'long' : `x${j}`, { type: 'T', data: i * 100 + j })))
    }
    const long = await collect(db.readStream('long'))
    t.equal(long.length, 1500)
    t.same((await collect(db.readStream('long', { backwards: true }))).reverse(), long)
    t.same((await collect(db.readAll({ backwards: true }))).reverse(), await collect(db.readAll()))
    t.same(long, (await collect(db.readAll())).filter(e => e.stream === 'long'))
    await db.close()
  })

  t.test('a stream of long runs of large events reads whole (a range scan past 16 KiB)', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    const text = 'x'.repeat(500)
    for (let i = 0; i < 4; i++) {
      await db.append('runs', Array.from({ length: 300 }, (_, j) => ({ type: 'Big', data: { n: i * 300 + j, text } })))
      await db.append('other', { type: 'Small' })
    }
    const events = await collect(db.readStream('runs'))
    t.same(events.map(e => e.data.n), Array.from({ length: 1200 }, (_, i) => i))
    t.same((await collect(db.readStream('runs', { from: 250, to: 950 }))).map(e => e.revision), Array.from({ length: 701 }, (_, i) => 250 + i))
    t.same((await collect(db.readStream('runs', { backwards: true }))).map(e => e.revision), Array.from({ length: 1200 }, (_, i) => 1199 - i))
    await db.close()
  })

  t.test('leaving a read early releases it', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', Array.from({ length: 200 }, (_, i) => ({ type: 'T', data: i })))
    for await (const e of db.readAll()) if (e.position === 3) break
    for await (const e of db.readStream('s')) if (e.revision === 150) break
    const it = db.readStream('s')[Symbol.asyncIterator]()
    t.equal((await it.next()).value?.revision, 0)
    await it.return?.()
    t.same(await it.next(), { value: undefined, done: true })
    // an abandoned iterator does not keep close() waiting
    const abandoned = db.readAll()
    await abandoned.next()
    await db.close()
    await t.rejects(abandoned.next(), { code: 'ANNALS_NOT_OPEN' })
  })

  t.test('bad read options are TypeErrors, reported by the first next()', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    await db.append('s', { type: 'T' })
    for (const o of [{ from: -1 }, { to: 1.5 }, { limit: -3 }, { backwards: 'yes' }, { limit: '10' }]) {
      await t.rejects(collect(db.readAll(o as never)), TypeError, JSON.stringify(o))
      await t.rejects(collect(db.readStream('s', o as never)), TypeError, JSON.stringify(o))
    }
    await t.rejects(collect(db.readAll({ types: 'T' as never })), TypeError)
    await t.rejects(collect(db.readStream('')), { code: 'ANNALS_INVALID_EVENT' })
    t.same((await collect(db.readAll({ limit: Infinity }))).length, 1)
    await db.close()
  })
}
