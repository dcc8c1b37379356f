// Contract: what projections do around the edges of their work. Inline checkpoints keep up
// with the log even when batches change nothing, so that reopening replays nothing; a handler
// cannot deadlock the writer by appending; a handler that never settles does not hang close().
import type { Test } from 'tap'
import { defineProjection, type Annals, type ProjectionOptions } from '../../src/index.js'
import { readRecords } from '../../src/projections/checkpoints.js'
import { internalsOf } from '../../src/store/internals.js'
import { collect, type Backend } from '../helpers/backends.js'

/** Runs `fn`, and gives the codes of the process warnings emitted meanwhile (they come on a later tick). */
async function warningsDuring (fn: () => Promise<void>): Promise<string[]> {
  const codes: string[] = []
  const listen = (w: Error & { code?: string }): void => { codes.push(w.code ?? w.name) }
  process.on('warning', listen)
  try {
    await fn()
    await new Promise(resolve => setImmediate(resolve))
  } finally {
    process.off('warning', listen)
  }
  return codes
}

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

  t.test('the version decides: a handler of other text under the same version keeps the view, and warns once', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let handled = 0
    // each build names itself in the documents, so that a rebuild shows
    const define = (build: string, options: Partial<ProjectionOptions<string>> = {}) => defineProjection<string>({
      name: `kept-${backend.name}`,
      mode: 'inline',
      // the text differs per build (as a bundler or another compiler would make it), not what it does
      handle: new Function('build', 'count', `return (e, view) => { count(); view.put(e.stream, build) /* ${build} */ }`)(build, () => { handled++ }),
      ...options
    })
    let db = await f.open()
    await db.project(define('first'))
    await db.append('a', { type: 'T' })
    await db.close()

    const stored = async (): Promise<string> => (await readRecords(internalsOf(db).log.storage, define('').name)).active!.fingerprint
    db = await f.open()
    let view = await db.project(define('first'))
    t.equal(await stored(), define('first').fingerprint)
    await db.close()

    db = await f.open()
    const codes = await warningsDuring(async () => {
      handled = 0
      view = await db.project(define('second'))
    })
    t.same(codes, ['ANNALS_PROJECTION_CHANGED'], 'one warning, with its code')
    t.equal(handled, 0, 'nothing rebuilt')
    t.same(await collect(view.query()), [['a', 'first']], 'the view is kept as the first build wrote it')
    await db.close()
    db = await f.open()
    t.same(await warningsDuring(async () => { view = await db.project(define('second')) }), [], 'once per process')
    t.equal(await stored(), define('first').fingerprint, 'the record names the handler that wrote the view last')
    await db.append('b', { type: 'T' })
    t.same(await collect(view.query()), [['a', 'first'], ['b', 'second']], 'new events go through the handler given')
    t.equal(await stored(), define('second').fingerprint, 'whose checkpoint records it: the next process does not warn')
    await db.close()
    db = await f.open()
    t.same(await warningsDuring(async () => { await db.project(define('third', { types: ['T'] })) }), ['ANNALS_PROJECTION_CHANGED'], 'other types too only warn')
    await db.close()

    // what the version decides
    for (const [what, options] of [['a new version', { version: 2 }], ['history turned off', { version: 2, history: false }]] as const) {
      db = await f.open()
      handled = 0
      const rebuilt = await db.project(define(what, options))
      await rebuilt.caughtUp()
      t.equal(handled, 2, `${what}: rebuilt from the log`)
      t.same(await collect(rebuilt.query()), [['a', what], ['b', what]], `${what}: every document rebuilt`)
      await db.close()
    }
  })
}
