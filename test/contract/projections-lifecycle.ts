// Contract: what projections do around the edges of their work. Inline checkpoints keep up
// with the log even when batches change nothing, so that reopening replays nothing; a handler
// cannot deadlock the writer by appending; a handler that never settles does not hang close().
import type { Test } from 'tap'
import { defineProjection, type Annals } from '../../src/index.js'
import type { Backend } from '../helpers/backends.js'

/** Appends `n` events of `type`, 50 at a time concurrently, so that they share batches. */
async function appendMany (db: Annals, n: number, type: string): Promise<void> {
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, j) => await db.append(`s${(i + j) % 7}`, { type })))
  }
}

export function projectionLifecycleContract (t: Test, backend: Backend): void {
  t.test('an inline projection whose batches change nothing keeps its checkpoint up: reopening replays nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let handled = 0
    // handles every event, but changes its view only on a rare one
    const Rare = defineProjection<number>({
      name: 'rare',
      mode: 'inline',
      handle: (e, view) => { handled++; if (e.type === 'Rare') view.put('last', e.position) }
    })
    let db = await f.open()
    const rare = await db.project(Rare)
    await db.append('s', { type: 'Rare' })
    await appendMany(db, 3000, 'Common')
    t.equal(handled, 3001)
    t.equal(await rare.get('last'), 0)
    await db.close()
    handled = 0
    db = await f.open()
    const again = await db.project(Rare)
    t.equal(handled, 0, 'no event handled again at the next open')
    t.same(again.status(), { position: 3000, lag: 0, state: 'live', error: undefined, failedAt: undefined })
    await db.append('s', { type: 'Rare' })
    t.equal(handled, 1)
    t.equal(await again.get('last'), 3001)
    await db.close()
  })
}
