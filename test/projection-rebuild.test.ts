// Rebuilds of projections in the corners the model test (helpers/store-model.ts) found: a
// rebuild while the old generation's train waits at the head of the log, and rebuilds on an
// empty log.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { defineProjection, open, type Projection } from '../src/index.js'
import { collect } from './helpers/backends.js'
import { sleep } from './helpers/crash-log.js'

const counts = (version = 1, mode: 'inline' | 'async' = 'async') => defineProjection<number>({
  name: 'counts',
  mode,
  version,
  async handle (event, view) { view.put(event.stream, (await view.get(event.stream) ?? 0) + 1) }
})


/** Resolves as `p` does, or rejects once `ms` passed first. */
async function within<T> (ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms) })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

// Train.absorb took the other train's members without dropping the stopped ones, so the replaced
// generation came back, handled the next events and wrote its checkpoint over the swapped-in one
t.test('a rebuilt view stays swapped in when the old generation was waiting at the head', async t => {
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  let db = await open({ level })
  let view: Projection<number> = await db.project(counts())
  await db.append('s0', { type: 'Added' })
  await db.append('s1', { type: 'Added' })
  await view.caughtUp()
  await sleep(20) // the train waits at the head
  await view.rebuild()
  await sleep(20) // the replaced generation is deleted behind
  await db.append('s0', { type: 'Added' })
  await view.caughtUp()
  t.same(await collect(view.query()), [['s0', 2], ['s1', 1]], 'the view before closing')
  await db.close()
  db = await open({ level })
  view = await db.project(counts())
  await view.caughtUp()
  t.same(await collect(view.query()), [['s0', 2], ['s1', 1]], 'the view after reopening: the rebuilt one, caught up')
  await db.close()
})

for (const mode of ['async', 'inline'] as const) {
  // a rebuilt generation was swapped in by the batch of its first events: with no event it never was
  t.test(`rebuild() of an ${mode} projection on an empty log resolves`, async t => {
    const level = new MemoryLevel()
    t.teardown(async () => { await level.close() })
    const db = await open({ level })
    const view = await db.project(counts(1, mode))
    await within(2000, view.rebuild(), 'rebuild()')
    t.same(view.status(), { position: -1, lag: 0, state: 'live', error: undefined, failedAt: undefined })
    await db.append('s0', { type: 'Added' })
    await view.caughtUp()
    t.same(await collect(view.query()), [['s0', 1]])
    await db.close()
  })

  t.test(`a new version of an ${mode} projection on an empty log is caught up at once`, async t => {
    const level = new MemoryLevel()
    t.teardown(async () => { await level.close() })
    let db = await open({ level })
    await db.project(counts(1, mode))
    await db.close()
    db = await open({ level })
    const view = await within(2000, db.project(counts(2, mode)), 'project()')
    await within(2000, view.caughtUp(), 'caughtUp()')
    t.same(view.status(), { position: -1, lag: 0, state: 'live', error: undefined, failedAt: undefined })
    await db.close()
  })
}
