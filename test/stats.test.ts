// db.stats(): the figures after a known workload.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { defineProjection, open } from '../src/index.js'

const ev = (n: number): { type: string, data: { n: number } } => ({ type: 'Counted', data: { n } })

t.test('stats count appends, events, batches and latencies, and show the queue', async t => {
  const level = new MemoryLevel()
  const db = await open({ level })
  t.teardown(async () => { await level.close() })

  const empty = db.stats()
  t.match(empty, {
    head: { position: -1 },
    appends: { count: 0, events: 0, latency: { count: 0, mean: 0, p50: 0, p99: 0, max: 0 } },
    batches: { count: 0 },
    queue: { appends: 0, events: 0 },
    projections: [],
    subscriptions: []
  })
  t.type(empty.database.id, 'number')
  t.equal(empty.database.location, undefined)

  // 10 appends awaited one by one: 10 batches of one
  for (let i = 0; i < 10; i++) await db.append('a', ev(i))
  await db.append('b', [ev(1), ev(2), ev(3), ev(4), ev(5)])
  await db.appendMany([{ stream: 'c', events: [ev(1), ev(2)] }, { stream: 'd', events: ev(3) }])
  let s = db.stats()
  t.match(s, { head: { position: 17 }, appends: { count: 12, events: 18 }, batches: { count: 12 } })
  t.equal(s.appends.latency.count, 12)
  t.ok(s.appends.latency.mean > 0)
  t.ok(s.appends.latency.p50 <= s.appends.latency.p99 && s.appends.latency.p99 <= s.appends.latency.max)
  t.match(s.batches.appends, { count: 12, mean: 1, p50: 1, max: 1 })
  t.match(s.batches.events, { count: 12, p50: 1, max: 5 })
  t.equal(s.batches.events.mean, 18 / 12)

  // 20 appends called in one tick: waiting in the queue, then one batch
  const pending = Array.from({ length: 20 }, async (_, i) => await db.append('e', [ev(i), ev(i)]))
  t.same(db.stats().queue, { appends: 20, events: 40 }, 'the queue before the writer takes it')
  await Promise.all(pending)
  s = db.stats()
  t.same(s.queue, { appends: 0, events: 0 })
  t.match(s, { head: { position: 57 }, appends: { count: 32, events: 58 }, batches: { count: 13 } })
  t.equal(s.batches.appends.max, 20)
  t.equal(s.batches.events.max, 40)
  t.equal(s.appends.latency.count, 32)

  // a failed append is not counted
  await db.append('a', ev(0), { expectedRevision: 0 }).catch(() => {})
  t.match(db.stats(), { appends: { count: 32, events: 58 } })

  await db.close()
  t.match(db.stats(), { appends: { count: 32 } }, 'after close: the figures as the database left them')
})

t.test('stats show the position and lag of projections and subscriptions', async t => {
  const level = new MemoryLevel()
  const db = await open({ level })
  t.teardown(async () => { await db.close(); await level.close() })
  for (let i = 0; i < 10; i++) await db.append('a', ev(i))

  // a subscription held at its fifth event
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  const seen: number[] = []
  const sub = db.subscribe({ name: 'slow' }, async e => {
    seen.push(e.position)
    if (e.position === 4) await held
  })
  const quick = db.subscribe({ from: 'end' }, () => {})
  const counter = await db.project(defineProjection({ name: 'counter', handle () {} }))
  await counter.caughtUp()
  while (!seen.includes(4)) await new Promise(resolve => setImmediate(resolve))

  const s = db.stats()
  t.same(s.projections, [{ name: 'counter', mode: 'async', position: 9, lag: 0, state: 'live' }])
  t.same(s.subscriptions, [{ name: 'slow', position: 3, lag: 6 }, { name: undefined, position: 9, lag: 0 }])
  release()
  await sub.caughtUp()
  t.same(db.stats().subscriptions.map(x => x.lag), [0, 0])
  await sub.close()
  await quick.close()
  t.same(db.stats().subscriptions, [], 'closed subscriptions are gone')
})
