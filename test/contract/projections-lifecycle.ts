// Contract: what projections do around the edges of their work. Inline checkpoints keep up
// with the log even when batches change nothing, so that reopening replays nothing; the version
// decides rebuilds; a handler cannot deadlock the writer by appending; a handler that never
// settles does not hang close(); a rebuild under appends, and a close mid-catch-up, lose and
// repeat nothing.
import type { Test } from 'tap'
import { defineProjection, type Annals, type ProjectionDefinition, type ProjectionOptions } from '../../src/index.js'
import { readRecords } from '../../src/projections/checkpoints.js'
import { internalsOf } from '../../src/store/internals.js'
import { collect, type Backend } from '../helpers/backends.js'
import { appendAll, fold, handle, sorted, sums, type Ev } from '../helpers/sums.js'
import { inlineMode, inlineRefused } from './inline.js'

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
  const INLINE = inlineMode(backend)
  t.test('an inline projection whose batches change nothing keeps its checkpoint up: reopening replays nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    if (await inlineRefused(t, backend, f)) return
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

  t.test('a new version on an empty log is swapped in at once, async or inline, and then follows the log', async t => {
    // inline here only where this process can run it (see inline.ts)
    for (const mode of [...new Set(['async', inlineMode(backend)] as const)]) {
      const f = await backend.make()
      t.teardown(f.cleanup)
      const v = (version: number): ProjectionDefinition<number> =>
        defineProjection<number>({ name: 'empty', version, mode, handle: (e, view) => { view.put(String(e.position), version) } })
      let db = await f.open()
      await (await db.project(v(1))).caughtUp()
      await db.close()
      db = await f.open()
      const p = await db.project(v(2))
      await p.caughtUp()
      t.same(p.status(), { position: -1, lag: 0, state: 'live', error: undefined, failedAt: undefined }, `${mode}: swapped in`)
      await db.append('s', { type: 'First' })
      await p.caughtUp()
      t.same(await collect(p.query()), [['0', 2]], `${mode}: the new version handles what comes`)
      await db.close()
    }
  })

  t.test('the version decides: a handler of other text under the same version keeps the view, and warns once', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let handled = 0
    // each build names itself in the documents, so that a rebuild shows
    const define = (build: string, options: Partial<ProjectionOptions<string>> = {}) => defineProjection<string>({
      name: `kept-${backend.name}`,
      mode: INLINE,
      // the text differs per build (as a bundler or another compiler would make it), not what it does
      handle: new Function('build', 'count', `return (e, view) => { count(); view.put(e.stream, build) /* ${build} */ }`)(build, () => { handled++ }),
      ...options
    })
    let db = await f.open()
    await (await db.project(define('first'))).caughtUp()
    await db.append('a', { type: 'T' })
    await (await db.project(define('first'))).caughtUp()
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
    await view.caughtUp()
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

  t.test('an inline handler that appends is refused at once, ANNALS_REENTRANT_APPEND, rather than deadlock the writer', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    if (await inlineRefused(t, backend, f)) return
    const db = await f.open()
    const codes: unknown[] = []
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const Reacts = defineProjection<number>({
      name: 'reacts',
      mode: 'inline',
      async handle (e, view) {
        if (e.type === 'Wait') await gate
        if (e.type === 'Try') await db.append('other', { type: 'Reaction' }).catch((err: { code?: string }) => { codes.push(err.code) })
        if (e.type === 'Throw') await db.append('other', { type: 'Reaction' })
        view.put(e.type, e.position)
      }
    })
    const reacts = await db.project(Reacts)
    await db.append('s', { type: 'Try' })
    t.same(codes, ['ANNALS_REENTRANT_APPEND'], 'the handler\'s append failed at once, and the handler went on')
    t.equal(await reacts.get('Try'), 0)
    const err = await db.append('s', { type: 'Throw' }).catch((e: unknown) => e) as { code?: string, cause?: { code?: string } }
    t.equal(err.code, 'ANNALS_PROJECTION_FAILED', 'a handler that lets it through fails the append, as any handler error')
    t.equal(err.cause?.code, 'ANNALS_REENTRANT_APPEND')
    // appends from elsewhere, made while an inline handler waits, are not refused: they queue
    const waiting = db.append('s', { type: 'Wait' })
    await new Promise(resolve => setTimeout(resolve, 10))
    const outside = db.append('s', { type: 'Outside' })
    const subscribed = new Promise<unknown>((resolve, reject) => {
      const sub = db.subscribe({ from: 'end', types: ['Outside'] }, async () => {
        await db.append('reactions', { type: 'Reaction' }).then(resolve, reject)
        void sub.close()
      })
    })
    release()
    t.match(await Promise.all([waiting, outside]), [{ revision: 1, position: 1 }, { revision: 2, position: 2 }])
    t.match(await subscribed, { position: 3 }, 'a subscription\'s handler may append')
    t.same((await collect(db.readAll())).map(e => e.type), ['Try', 'Wait', 'Outside', 'Reaction'], 'no reaction of an inline handler was written')

    // when an inline projection catches up, its handler cannot append either
    const Late = defineProjection<number>({ name: 'late', mode: 'inline', async handle (e) { if (e.type === 'Try') await db.append('other', { type: 'Reaction' }) } })
    await t.rejects(db.project(Late), { code: 'ANNALS_PROJECTION_FAILED', cause: { code: 'ANNALS_REENTRANT_APPEND' } })
    await db.close()
  })

  t.test('close abandons an inline handler that never settles: its append fails, ANNALS_HANDLER_ABANDONED, and close finishes', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    if (await inlineRefused(t, backend, f)) return
    let db = await f.open()
    let hang = true
    let late!: () => void
    const Hangs = defineProjection<number>({
      name: 'hangs',
      mode: 'inline',
      async handle (e, view) {
        if (hang && e.type === 'Hang') await new Promise<void>(resolve => { late = resolve })
        view.put(e.type, e.position)
      }
    })
    await db.project(Hangs)
    await db.append('s', { type: 'Before' })
    const hung = db.append('s', { type: 'Hang' }).then(() => undefined, (err: unknown) => err)
    const behind = db.append('s', { type: 'Behind' })
    await new Promise(resolve => setTimeout(resolve, 20))
    const started = Date.now()
    const codes = await warningsDuring(async () => { await db.close({ handlerTimeout: 100 }) })
    t.ok(Date.now() - started >= 90, 'close waited for the handler first')
    t.same(codes, ['ANNALS_HANDLER_ABANDONED'], 'and says which it abandoned')
    t.match(await hung, { code: 'ANNALS_HANDLER_ABANDONED' }, 'the append that waited for it failed')
    t.match(await behind, { revision: 1, position: 1 }, 'the append queued behind it was written')
    late() // the abandoned handler settles after all: what it does is kept nowhere
    await new Promise(resolve => setTimeout(resolve, 10))
    hang = false
    db = await f.open()
    const view = await db.project(Hangs)
    t.same((await collect(db.readAll())).map(e => e.type), ['Before', 'Behind'], 'the abandoned append wrote nothing')
    t.same(await collect(view.query()), [['Before', 0], ['Behind', 1]], 'the view caught up on what was written, and only that')
    await db.close()
  })

  t.test('close abandons an async handler that never settles; the projection resumes at its checkpoint', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    await appendMany(db, 2000, 'T')
    let hang = true
    let handled = 0
    const Count = defineProjection<number>({
      name: 'count',
      async handle (e, view) {
        if (hang && e.position === 1500) await new Promise(() => {})
        handled++
        view.put('n', (await view.get('n') ?? 0) + 1)
      }
    })
    const count = await db.project(Count)
    while (handled < 1500) await new Promise(resolve => setTimeout(resolve, 5))
    // chunks before the one that hangs are written
    const checkpoint = count.status().position
    t.ok(checkpoint > 0 && checkpoint < 1500, `its checkpoint (${checkpoint}) is before the event that hangs`)
    t.equal(count.status().state, 'catching-up')
    const codes = await warningsDuring(async () => { await db.close({ handlerTimeout: 50 }) })
    t.same(codes, ['ANNALS_HANDLER_ABANDONED'])
    hang = false
    handled = 0
    db = await f.open()
    const again = await db.project(Count)
    await again.caughtUp()
    t.equal(handled, 2000 - (checkpoint + 1), 'resumed at its checkpoint')
    t.equal(await again.get('n'), 2000, 'no event applied twice, none skipped')
    await db.close()
  })

  t.test('close options are checked, and a refused close changes nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    const db = await f.open()
    for (const bad of ['soon', { handlerTimeout: -1 }, { handlerTimeout: '5' }, { handlerTimeout: NaN }, { handlertimeout: 5 }]) {
      await t.rejects(db.close(bad as never), TypeError, JSON.stringify(bad))
    }
    t.equal(db.status, 'open')
    await db.append('s', { type: 'T' })
    await db.close({ handlerTimeout: Infinity })
    t.equal(db.status, 'closed')
  })

  t.test('a rebuild while appends flow, and a close during catch-up, lose and repeat nothing', async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    const events: Ev[] = Array.from({ length: 3000 }, (_, i) => ({ stream: `s${i % 3}`, type: i % 11 === 0 ? 'Del' : 'Add', n: i % 37 }))
    const inline = await db.project(sums('inline', INLINE))
    const async = await db.project(sums('async', 'async'))
    const appending = (async () => { for (let i = 0; i < events.length; i += 100) await appendAll(db, events.slice(i, i + 100)) })()
    await new Promise(resolve => setTimeout(resolve, 5))
    await Promise.all([inline.rebuild(), async.rebuild()])
    await appending
    await async.caughtUp()
    await inline.caughtUp()
    const expected = sorted(fold(await collect(db.readAll())))
    t.same(await collect(inline.query()), expected, 'inline, rebuilt while appends flowed')
    t.same(await collect(async.query()), expected, 'async, rebuilt while appends flowed')
    // a projection held in the middle of its catch-up, at the event at position 1000
    let hold: { at: number, reached: () => void, released: Promise<void> } | undefined
    let handled = 0
    const Late = defineProjection<number>({
      name: 'late',
      types: ['Add', 'Del'],
      async handle (e, view) {
        if (hold?.at === e.position) {
          hold.reached()
          await hold.released
        }
        handled++
        await handle(e, view)
      }
    })
    let release!: () => void
    const reached = new Promise<void>(resolve => { hold = { at: 1000, reached: resolve, released: new Promise(resolve => { release = resolve }) } })
    const late = await db.project(Late)
    await reached
    const before = late.status()
    t.equal(before.state, 'catching-up', 'closed in the middle of its catch-up')
    t.ok(before.position > 0 && before.position < 1000, `with chunks before the held one written (up to ${before.position})`)
    const closing = db.close()
    release()
    await closing
    hold = undefined
    db = await f.open()
    const again = await db.project(Late)
    const resumedAt = again.status().position
    t.ok(resumedAt >= before.position && resumedAt < events.length - 1, `it resumes where close left it (${resumedAt}), not from the start`)
    handled = 0
    await again.caughtUp()
    t.equal(handled, events.slice(resumedAt + 1).filter(e => e.type !== 'Noise').length, 'handling only the events after its checkpoint')
    t.same(await collect(again.query()), expected, 'resumed after close, nothing lost or repeated')
    await db.close()
  })
}
