// The diagnostics channels: each fires with the payload docs/observability.md documents, failures
// with their error code; and with nobody subscribed, no message is built at all.
import t, { type Test } from 'tap'
import diagnosticsChannel from 'node:diagnostics_channel'
import { MemoryLevel } from 'memory-level'
import { messagesBuilt, setPublishing } from '../src/diagnostics/channels.js'
import {
  AnnalsError, CHANNELS, MemoryKeyStore, defineAggregate, defineProjection, open,
  type Annals, type AppendMessage, type BatchMessage, type LoadMessage, type ProjectionMessage, type ReadMessage, type ShredMessage,
  type SnapshotMessage, type SubscriptionMessage
} from '../src/index.js'

const ev = (n: number): { type: string, data: { n: number } } => ({ type: 'Counted', data: { n } })

async function fresh (t: Test, level = new MemoryLevel()): Promise<Annals> {
  const db = await open({ level }, { keyStore: new MemoryKeyStore() })
  t.teardown(async () => { await db.close(); await level.close() })
  return db
}

/** Collects the messages of a plain channel while the test runs. */
function listen<M> (t: Test, name: string): M[] {
  const got: M[] = []
  const listener = (m: unknown): void => { got.push(m as M) }
  diagnosticsChannel.subscribe(name, listener)
  t.teardown(() => { diagnosticsChannel.unsubscribe(name, listener) })
  return got
}

/** Collects the events of a tracing channel while the test runs, as [event, a copy of the message then]. */
function trace<M extends object> (t: Test, name: string): Array<[string, M]> {
  const got: Array<[string, M]> = []
  const channel = diagnosticsChannel.tracingChannel<unknown, M>(name)
  const on = (e: string) => (m: M): void => { got.push([e, { ...m }]) }
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') }
  channel.subscribe(handlers)
  t.teardown(() => { channel.unsubscribe(handlers) })
  return got
}

const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: (n: number) => n + 1, snapshotEvery: 3 })

t.test('annals:append: each append and appendMany, with what it asked, then its duration and result', async t => {
  const db = await fresh(t)
  const got = trace<AppendMessage>(t, CHANNELS.append)
  const r = await db.append('a', [ev(1), ev(2)])
  const database = db.stats().database
  t.same(got.map(([e]) => e), ['start', 'end', 'asyncStart', 'asyncEnd'])
  const [, start] = got[0]!
  t.same(start, { database, operation: 'append', streams: ['a'], events: 2, sync: false, condition: false }, 'start: what the call asked')
  const [, done] = got[3]!
  t.type(done.duration, 'number')
  t.ok(done.duration! >= 0)
  t.same(done.result, r)
  t.equal(done.errorCode, undefined)

  got.length = 0
  const many = await db.appendMany([{ stream: 'a', events: ev(3) }, { stream: 'b', events: [ev(4), ev(5)] }], { sync: true })
  t.match(got[0]![1], { operation: 'appendMany', streams: ['a', 'b'], events: 3, sync: true })
  t.same(got.at(-1)![1].result, many)
})

t.test('annals:append: a failed append publishes error then asyncEnd, with the error code', async t => {
  const db = await fresh(t)
  await db.append('a', ev(1))
  const got = trace<AppendMessage>(t, CHANNELS.append)
  const err = await db.append('a', ev(2), { expectedRevision: 5 }).catch((e: unknown) => e)
  t.ok(err instanceof AnnalsError)
  t.same(got.map(([e]) => e), ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
  const [, failed] = got[2]!
  t.equal(failed.errorCode, 'ANNALS_WRONG_EXPECTED_REVISION')
  t.equal(failed.error, err)
  t.type(failed.duration, 'number')
  t.equal(got[4]![1].errorCode, 'ANNALS_WRONG_EXPECTED_REVISION')
})

t.test('annals:batch: one message per batch written, with its size, bytes, sync and positions', async t => {
  const db = await fresh(t)
  const got = listen<BatchMessage>(t, CHANNELS.batch)
  // called in one tick: one batch (group commit)
  await Promise.all(Array.from({ length: 20 }, async (_, i) => await db.append(`s-${i % 3}`, ev(i))))
  t.equal(got.length, 1)
  const b = got[0]!
  t.match(b, { database: db.stats().database, appends: 20, written: 20, events: 20, sync: false, queued: 0, first: 0, last: 19 })
  t.ok(b.bytes > 20 * 10, 'counts the bytes written')
  t.ok(b.duration >= 0)
  t.equal(b.errorCode, undefined)

  // a batch with a failed append: taken, not written
  got.length = 0
  await Promise.allSettled([db.append('s-0', ev(1), { expectedRevision: 0 }), db.append('s-1', ev(2), { sync: true })])
  t.match(got, [{ appends: 2, written: 1, events: 1, sync: true, first: 20, last: 20 }])
})

t.test('annals:batch: a write that fails publishes the error and its code', async t => {
  const level = new MemoryLevel()
  const db = await fresh(t, level)
  await db.append('a', ev(1))
  const got = listen<BatchMessage>(t, CHANNELS.batch)
  const inner = level as unknown as { _batch: (...args: unknown[]) => Promise<void> }
  const batch = inner._batch
  inner._batch = async () => { throw new Error('disk on fire') }
  const err = await db.append('a', ev(2)).catch((e: unknown) => e) as AnnalsError
  inner._batch = batch
  t.equal(got.length, 1)
  t.match(got[0], { appends: 1, written: 0, events: 0, first: -1, last: -1 })
  t.equal(got[0]!.errorCode, err.code)
  t.ok(got[0]!.errorCode !== undefined, 'the write failed with a code')
})

t.test('annals:read: one message per read, when it ends, with the events handed out', async t => {
  const db = await fresh(t)
  for (let i = 0; i < 10; i++) await db.append(i % 2 === 0 ? 'even' : 'odd', { ...ev(i), tags: [`n:${i}`] })
  const got = listen<ReadMessage>(t, CHANNELS.read)
  const database = db.stats().database

  t.equal((await db.readStream('even').toArray()).length, 5)
  t.match(got.at(-1), { database, operation: 'readStream', stream: 'even', events: 5 })
  t.type(got.at(-1)!.duration, 'number')

  const options = { types: ['Counted'], limit: 3 }
  await db.readAll(options).toArray()
  t.match(got.at(-1), { operation: 'readAll', stream: undefined, events: 3 })
  t.equal(got.at(-1)!.options, options, 'the options as given')

  // closed early: the events handed out, not those read ahead
  for await (const e of db.readAll()) if (e.position === 1) break
  t.match(got.at(-1), { operation: 'readAll', events: 2 })

  await db.read({ query: [{ tags: ['n:4'] }] })
  t.match(got.at(-1), { operation: 'read', events: 1 })

  const err = await db.readStream('').toArray().catch((e: unknown) => e)
  t.ok(err instanceof Error)
  t.match(got.at(-1), { operation: 'readStream', events: 0, error: err })
  t.equal(got.length, 5)
})

t.test('annals:load and annals:snapshot: loads, snapshots taken, loaded and invalidated', async t => {
  const db = await fresh(t)
  for (let i = 0; i < 7; i++) await db.append('c', ev(i))
  const loads = trace<LoadMessage>(t, CHANNELS.load)
  const snapshots = listen<SnapshotMessage>(t, CHANNELS.snapshot)
  const database = db.stats().database

  await db.load(Count, 'c')
  t.match(loads[0]![1], { database, aggregate: 'count', stream: 'c', at: undefined })
  t.match(loads.at(-1), ['asyncEnd', { revision: 6, position: 6, folded: 7, snapshot: -1 }])
  t.same(snapshots, [
    { action: 'taken', database, aggregate: 'count', stream: 'c', revision: 2 },
    { action: 'taken', database, aggregate: 'count', stream: 'c', revision: 5 }
  ])

  t.equal(await db.pruneSnapshots([Count]), 0) // waits for the snapshots to be written
  snapshots.length = 0
  loads.length = 0
  await db.load(Count, 'c', { at: { revision: 5 } })
  t.match(loads.at(-1), ['asyncEnd', { at: { revision: 5 }, revision: 5, folded: 0, snapshot: 5 }])
  await db.load(Count, 'c')
  t.match(loads.at(-1), ['asyncEnd', { revision: 6, folded: 1, snapshot: 5 }])
  t.same(snapshots.map(s => s.action), ['loaded', 'loaded'])

  t.equal(await db.pruneSnapshots([]), 2)
  t.same(snapshots.at(-1), { action: 'invalidated', database, reason: 'prune', count: 2 })

  loads.length = 0
  const err = await db.load(Count, 'c', { at: { time: 'soon' as unknown as number } }).catch((e: unknown) => e)
  t.ok(err instanceof TypeError, 'bad input is refused before anything is traced')
  t.equal(loads.length, 0)
})

t.test('annals:shred: counts the subjects and never names them', async t => {
  const db = await fresh(t)
  db.definePersonalData('Registered', { subject: 'user', fields: ['email'] })
  await db.append('users', { type: 'Registered', data: { user: 'user-7', email: 'x@example.org' } })
  const got = trace<ShredMessage>(t, CHANNELS.shred)
  await db.shred(['user-7', 'user-8', 'user-7'])
  t.same(got.map(([e]) => e), ['start', 'end', 'asyncStart', 'asyncEnd'])
  t.match(got.at(-1)![1], { database: db.stats().database, subjects: 2 })
  t.type(got.at(-1)![1].duration, 'number')
  t.notOk(JSON.stringify(got).includes('user-7'), 'no subject id in the messages')
})

t.test('annals:subscription: each event handled, with its lag; a failure with its position', async t => {
  const db = await fresh(t)
  for (let i = 0; i < 3; i++) await db.append('a', ev(i))
  const got = listen<SubscriptionMessage>(t, CHANNELS.subscription)
  const sub = db.subscribe({ name: 'mailer' }, () => {})
  await sub.caughtUp()
  await sub.close()
  t.same(got.map(m => m.kind === 'handled' && [m.subscription, m.position, m.type, m.lag]), [['mailer', 0, 'Counted', 2], ['mailer', 1, 'Counted', 1], ['mailer', 2, 'Counted', 0]])
  t.ok(got.every(m => m.kind === 'handled' && m.duration >= 0 && m.database.id === db.stats().database.id))

  got.length = 0
  const boom = new AnnalsError('ANNALS_INVALID_EVENT', 'no')
  let stopped: unknown
  const failing = db.subscribe({ from: 1, onError: err => { stopped = err } }, e => { if (e.position === 2) throw boom })
  await t.rejects(failing.caughtUp())
  t.equal(stopped, boom)
  t.match(got.at(-1), { kind: 'failed', subscription: undefined, position: 2, error: boom, errorCode: 'ANNALS_INVALID_EVENT' })
  t.same(got.filter(m => m.kind === 'handled').map(m => m.position), [1])
})

t.test('annals:projection: batches of async and inline projections, and a failure', async t => {
  const db = await fresh(t)
  for (let i = 0; i < 5; i++) await db.append('a', ev(i))
  const got = listen<ProjectionMessage>(t, CHANNELS.projection)
  const counter = await db.project(defineProjection<number>({ name: 'counter', async handle (_event, view) { view.put('n', (await view.get('n') ?? 0) + 1) } }))
  await counter.caughtUp()
  const batches = got.filter(m => m.kind === 'batch' && m.projection === 'counter')
  t.equal(batches.reduce((n, m) => n + (m.kind === 'batch' ? m.events : 0), 0), 5)
  t.match(batches.at(-1), { kind: 'batch', mode: 'async', rebuilding: false, position: 4, lag: 0, database: db.stats().database })

  const inline = await db.project(defineProjection<number>({ name: 'inline', mode: 'inline', handle (event, view) { view.put(event.stream, event.position) } }))
  got.length = 0
  await db.append('b', [ev(5), ev(6)])
  t.match(got.filter(m => m.kind === 'batch' && m.projection === 'inline'), [{ mode: 'inline', events: 2, position: 6, lag: 0 }])
  t.equal(await inline.get('b'), 6)

  got.length = 0
  const broken = await db.project(defineProjection({ name: 'broken', handle (e) { if (e.position === 3) throw new Error('no') } }))
  await t.rejects(broken.caughtUp(), { code: 'ANNALS_PROJECTION_FAILED' })
  t.match(got.find(m => m.kind === 'failed'), { kind: 'failed', projection: 'broken', position: 3, errorCode: 'ANNALS_PROJECTION_FAILED' })
})

t.test('with nobody subscribed, no message is built on any path', async t => {
  for (const name of Object.values(CHANNELS)) {
    t.notOk(diagnosticsChannel.hasSubscribers(name), `${name} has no subscriber`)
    t.notOk(diagnosticsChannel.tracingChannel(name).hasSubscribers, `${name} (tracing) has no subscriber`)
  }
  const db = await fresh(t)
  const workload = async (): Promise<void> => {
    const p = await db.project(defineProjection({ name: `p-${Math.random()}`, handle () {} }))
    const inline = await db.project(defineProjection({ name: `i-${Math.random()}`, mode: 'inline', handle () {} }))
    const sub = db.subscribe(() => {})
    db.definePersonalData('Registered', { subject: 'user', fields: ['email'] })
    await Promise.all(Array.from({ length: 10 }, async (_, i) => await db.append('c', ev(i))))
    await db.appendMany([{ stream: 'd', events: ev(1) }, { stream: 'e', events: ev(2) }])
    await db.append('users', { type: 'Registered', data: { user: 'u', email: 'e' } })
    await db.append('c', ev(0), { expectedRevision: 0 }).catch(() => {})
    await db.readStream('c').toArray()
    await db.readAll({ limit: 3 }).toArray()
    await db.read({ query: [{ types: ['Counted'] }] })
    await db.load(Count, 'c')
    await db.pruneSnapshots([Count])
    await db.load(Count, 'c')
    await db.pruneSnapshots([])
    await db.shred('u')
    await sub.caughtUp()
    await sub.close()
    await p.caughtUp()
    await inline.caughtUp()
  }
  const before = messagesBuilt()
  await workload()
  t.equal(messagesBuilt(), before, 'no message built')

  // the same workload with one subscriber: the count moves, so the test above could fail
  const got = listen<BatchMessage>(t, CHANNELS.batch)
  await workload()
  t.ok(got.length > 0)
  t.equal(messagesBuilt(), before + got.length, 'only the batch messages were built')
})

t.test('the benchmarks\' switch: with publishing bypassed, appends tell nobody, even a subscriber; switched back, they do', async t => {
  const db = await fresh(t)
  const batches = listen<BatchMessage>(t, CHANNELS.batch)
  const appends = trace<AppendMessage>(t, CHANNELS.append)
  setPublishing(false)
  t.teardown(() => { setPublishing(true) })
  const before = messagesBuilt()
  await Promise.all([db.append('a', ev(1)), db.appendMany([{ stream: 'b', events: [ev(2)] }])])
  t.same([batches.length, appends.length, messagesBuilt()], [0, 0, before], 'no message built or published')
  setPublishing(true)
  await db.append('a', ev(3))
  t.equal(batches.length, 1, 'a batch message again')
  t.same(appends.map(([e]) => e), ['start', 'end', 'asyncStart', 'asyncEnd'], 'and the append traced')
})
