// Concurrency: group commit must keep each append's own outcome, whatever else shares its batch.
import t from 'tap'
import { backends, collect } from './helpers/backends.js'

for (const backend of backends.filter(b => b.name === 'memory-level' || b.name === 'classic-level')) {
  t.test(backend.name, async t => {
    t.test('many appends with the same expectation: exactly one wins', async t => {
      const f = await backend.make()
      t.teardown(f.cleanup)
      const db = await f.open()
      await db.append('account-1', { type: 'Opened' })
      for (let round = 0; round < 20; round++) {
        const expected = await db.revision('account-1')
        const results = await Promise.allSettled(Array.from({ length: 50 }, async (_, i) =>
          await db.append('account-1', [{ type: 'Deposited', data: { i } }, { type: 'Noted' }].slice(0, 1 + i % 2), { expectedRevision: expected })))
        const won = results.filter(r => r.status === 'fulfilled')
        t.equal(won.length, 1, `round ${round}: one winner`)
        for (const r of results) {
          if (r.status === 'rejected') t.equal((r.reason as { code: string }).code, 'ANNALS_WRONG_EXPECTED_REVISION')
        }
      }
      const stream = await collect(db.readStream('account-1'))
      t.same(stream.map(e => e.revision), stream.map((_, i) => i))
      await db.close()
    })

    t.test('thousands of concurrent appends to many streams: no gaps, no duplicates', async t => {
      const f = await backend.make()
      t.teardown(f.cleanup)
      const db = await f.open()
      const count = 5000
      const results = await Promise.all(Array.from({ length: count }, async (_, i) =>
        await db.append(`s${i % 97}`, Array.from({ length: 1 + i % 3 }, () => ({ type: 'T', data: { i } })))))
      const all = await collect(db.readAll())
      t.equal(all.length, results.reduce((n, _, i) => n + 1 + i % 3, 0))
      t.ok(all.every((e, i) => e.position === i), 'positions are 0..n without gaps')
      t.equal(new Set(all.map(e => e.id)).size, all.length, 'ids are unique')
      // each append's events are contiguous, and its result names its last event
      for (const [i, r] of results.entries()) {
        const n = 1 + i % 3
        const events = all.slice(r.position - n + 1, r.position + 1)
        t.ok(events.every(e => e.stream === `s${i % 97}` && (e.data as { i: number }).i === i), `append ${i}`)
      }
      for (let s = 0; s < 97; s++) {
        const stream = await collect(db.readStream(`s${s}`))
        t.same(stream.map(e => e.revision), stream.map((_, i) => i), `s${s} revisions`)
        t.same(stream, all.filter(e => e.stream === `s${s}`), `s${s} agrees with the log`)
      }
      await db.close()
    })
  })
}
