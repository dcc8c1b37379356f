// Contract: schema evolution. Events stored at older versions of their types read at the
// current ones, on every read path (streams, the log, queries, subscriptions, loads, projection
// handlers, async and inline); a renamed type is found by its new name; personal fields keep
// their guarantees through the steps; a step that fails fails the read, naming the event; a
// change of versions ignores old snapshots and rebuilds views; bad declarations are refused.
import type { Test } from 'tap'
import {
  defineAggregate, defineProjection, type Annals, type EventDeclaration, type OpenOptions, type RecordedEvent
} from '../../src/index.js'
import { collect, type Backend, type Fixture } from '../helpers/backends.js'
import { inlineMode } from './inline.js'

/** PhotoUploaded (v1) was renamed PhotoAdded (v2), which gained `camera` (v2) and `tags` (v3). */
export const photoEvents: Record<string, EventDeclaration> = {
  PhotoUploaded: { version: 2, upcast: { 1: e => ({ type: 'PhotoAdded', data: { ...e.data, camera: null }, metadata: { ...e.metadata, renamed: true } }) } },
  PhotoAdded: {
    version: 3,
    upcast: {
      1: e => ({ ...e, data: { ...e.data, camera: null } }),
      2: e => ({ ...e, data: { ...e.data, tags: [] } })
    }
  }
}

/** The photos of the contract: written by three releases of an application, in `album`. */
async function history (fixture: Fixture): Promise<void> {
  let db = await fixture.open()
  await db.append('album', [
    { type: 'PhotoUploaded', data: { photoId: 'p0', title: 'Dunes' } },
    { type: 'PhotoAdded', data: { photoId: 'p1', title: 'Harbour' } },
    { type: 'PhotoRetitled', data: { photoId: 'p0', title: 'The dunes' } }
  ])
  await db.append('other', { type: 'PhotoUploaded', data: { photoId: 'q0', title: 'Glacier' }, tags: ['user:2'] })
  await db.close()
  db = await fixture.open({ events: { PhotoAdded: { version: 2, upcast: { 1: photoEvents.PhotoAdded!.upcast![1]! } } } })
  await db.append('album', { type: 'PhotoAdded', data: { photoId: 'p2', title: 'Market', camera: 'Pixel 8' } })
  await db.close()
  db = await fixture.open({ events: photoEvents })
  await db.append('album', { type: 'PhotoAdded', data: { photoId: 'p3', title: 'Forest', camera: 'Pixel 8', tags: ['trees'] } })
  await db.close()
}

/** What every read of `album` must give with {@link photoEvents} in force: [type, version, data]. */
const ALBUM = [
  ['PhotoAdded', 3, { photoId: 'p0', title: 'Dunes', camera: null, tags: [] }],
  ['PhotoAdded', 3, { photoId: 'p1', title: 'Harbour', camera: null, tags: [] }],
  ['PhotoRetitled', 1, { photoId: 'p0', title: 'The dunes' }],
  ['PhotoAdded', 3, { photoId: 'p2', title: 'Market', camera: 'Pixel 8', tags: [] }],
  ['PhotoAdded', 3, { photoId: 'p3', title: 'Forest', camera: 'Pixel 8', tags: ['trees'] }]
]

const brief = (e: RecordedEvent): unknown[] => [e.type, e.version, e.data]

const step = (e: any): any => e
/** Declarations a TypeError refuses, by type. */
export const badDeclarations: Array<[string, unknown]> = [
  ['PhotoAdded', { version: 2 }],
  ['PhotoAdded', { version: 3, upcast: { 1: step } }],
  ['PhotoAdded', { version: 2, upcast: { 1: step, 2: step } }],
  ['PhotoAdded', { version: 2, upcast: { 0: step, 1: step } }],
  ['PhotoAdded', { version: 2, upcast: { '01': step, 1: step } }],
  ['PhotoAdded', { version: 2, upcast: { 1: 'step' } }],
  ['PhotoAdded', { version: 2, upcast: [step, step] }],
  ['PhotoAdded', { version: 0 }],
  ['PhotoAdded', { version: 1.5 }],
  ['PhotoAdded', { version: '2', upcast: { 1: step } }],
  ['PhotoAdded', { version: 2, upcast: { 1: step }, steps: {} }],
  ['PhotoAdded', null],
  ['', { version: 1 }]
]

export function upcastContract (t: Test, backend: Backend): void {
  async function fixture (t: Test): Promise<Fixture> {
    const f = await backend.make()
    t.teardown(async () => { await f.cleanup() })
    await history(f)
    return f
  }

  async function opened (t: Test, f: Fixture, options: OpenOptions = { events: photoEvents }): Promise<Annals> {
    const db = await f.open(options)
    t.teardown(async () => { await db.close() })
    return db
  }

  t.test('readStream gives every event at its type\'s current version, and nothing else changes', async t => {
    const f = await fixture(t)
    let db = await f.open()
    const stored = await collect(db.readStream('album'))
    t.same(stored.map(e => [e.type, e.version]), [['PhotoUploaded', 1], ['PhotoAdded', 1], ['PhotoRetitled', 1], ['PhotoAdded', 2], ['PhotoAdded', 3]],
      'without declarations, events read at the versions they were appended at')
    await db.close()
    db = await opened(t, f)
    const read = await collect(db.readStream('album'))
    t.same(read.map(brief), ALBUM)
    t.same(read.map(e => [e.id, e.stream, e.revision, e.position, e.time]), stored.map(e => [e.id, e.stream, e.revision, e.position, e.time]), 'id, stream, revision, position and time stay')
    t.same(read[0]!.metadata, { renamed: true }, 'a step may change metadata')
    t.same((await collect(db.readStream('album', { backwards: true, limit: 2 }))).map(brief), ALBUM.slice(3).reverse(), 'backwards')
    t.same((await collect(db.readStream('album', { from: 1, to: 1 }))).map(brief), [ALBUM[1]], 'a range')
  })

  t.test('readAll upcasts, and filters by the types as read: a renamed type under its new name', async t => {
    const f = await fixture(t)
    const db = await opened(t, f)
    const all = await collect(db.readAll())
    t.same(all.filter(e => e.stream === 'album').map(brief), ALBUM)
    t.same((await collect(db.readAll({ types: ['PhotoAdded'] }))).map(e => e.data.photoId), ['p0', 'p1', 'q0', 'p2', 'p3'], 'the renamed events are PhotoAdded')
    t.same(await collect(db.readAll({ types: ['PhotoUploaded'] })), [], 'and no longer PhotoUploaded')
    t.same((await collect(db.readAll({ types: ['PhotoAdded'], limit: 2 }))).map(e => e.data.photoId), ['p0', 'p1'], 'limit counts the events kept')
    t.same((await collect(db.readAll({ types: ['PhotoAdded', 'PhotoRetitled'], backwards: true, limit: 3 }))).map(e => e.position), [5, 4, 3], 'backwards, with a limit')
    t.same((await collect(db.readAll({ types: ['PhotoAdded'], tags: ['user:2'] }))).map(e => e.data.photoId), ['q0'], 'types and tags')
    t.same((await collect(db.readAll({ types: ['PhotoAdded'], streams: { prefix: 'alb' } }))).map(e => e.data.photoId), ['p0', 'p1', 'p2', 'p3'], 'types in a category')
    const { events, head } = await db.read({ query: [{ types: ['PhotoAdded'], tags: ['user:2'] }, { types: ['PhotoRetitled'] }] })
    t.same(events.map(brief), [ALBUM[2], ['PhotoAdded', 3, { photoId: 'q0', title: 'Glacier', camera: null, tags: [] }]], 'read({ query })')
    t.equal(head, 5)
    t.same((await db.read({ query: [{ types: ['PhotoAdded'] }], limit: 1 })).events.map(e => e.data.photoId), ['p0'], 'a query\'s limit')
  })

  t.test('subscriptions deliver events upcast, filtered by the types as read', async t => {
    const f = await fixture(t)
    const db = await opened(t, f)
    const seen: unknown[] = []
    const tagged: unknown[] = []
    const sub = db.subscribe({ types: ['PhotoAdded'] }, e => { seen.push([e.data.photoId, e.version]) })
    const byTag = db.subscribe({ types: ['PhotoAdded'], tags: ['user:2'] }, e => { tagged.push([e.type, e.version, e.data.photoId]) })
    await db.append('album', { type: 'PhotoAdded', data: { photoId: 'p4', title: 'Rooftops', camera: null, tags: [] } })
    await sub.caughtUp()
    await byTag.caughtUp()
    await sub.close()
    await byTag.close()
    t.same(seen, [['p0', 3], ['p1', 3], ['q0', 3], ['p2', 3], ['p3', 3], ['p4', 3]])
    t.same(tagged, [['PhotoAdded', 3, 'q0']])
  })

  t.test('load folds events upcast, at every revision', async t => {
    const f = await fixture(t)
    const db = await opened(t, f)
    const Album = defineAggregate({
      name: 'album',
      initial: () => [] as unknown[],
      evolve: (state, e) => [...state, [e.type, e.version, e.data.camera ?? 'none', e.data.tags ?? 'none']]
    })
    const { state } = await db.load(Album, 'album')
    t.same(state, [['PhotoAdded', 3, 'none', []], ['PhotoAdded', 3, 'none', []], ['PhotoRetitled', 1, 'none', 'none'], ['PhotoAdded', 3, 'Pixel 8', []], ['PhotoAdded', 3, 'Pixel 8', ['trees']]])
    t.same((await db.load(Album, 'album', { at: { revision: 1 } })).state, state.slice(0, 2))
    t.same((await db.load(Album, 'album', { at: { position: 3 } })).state, state.slice(0, 3))
  })

  t.test('steps that change the event they are given in place: every read gives them objects of its own', async t => {
    const f = await fixture(t)
    // the photoEvents' steps written in place; each also counts in the metadata how many steps
    // ran on the object it was given, so a step run twice on one object shows
    const count = (e: { metadata: Record<string, unknown> }): void => { e.metadata.steps = (e.metadata.steps as number ?? 0) + 1 }
    const inPlace: Record<string, EventDeclaration> = {
      PhotoUploaded: { version: 2, upcast: { 1: e => { e.type = 'PhotoAdded'; e.data.camera = null; e.metadata.renamed = true; count(e); return e } } },
      PhotoAdded: {
        version: 3,
        upcast: {
          1: e => { e.data.camera = null; count(e); return e },
          2: e => { e.data.tags = []; count(e); return e }
        }
      }
    }
    const db = await opened(t, f, { events: inPlace })
    const steps = [2, 2, undefined, 1, undefined]
    const check = (events: RecordedEvent[], what: string): void => {
      t.same(events.map(brief), ALBUM, `${what}: as with steps that copy`)
      t.same(events.map(e => e.metadata.steps), steps, `${what}: each step ran once on what it was given`)
    }
    for (let i = 0; i < 2; i++) check(await collect(db.readStream('album')), `readStream, read ${i + 1}`)
    check((await collect(db.readAll())).filter(e => e.stream === 'album'), 'readAll')
    check((await db.read({ query: [{ types: ['PhotoAdded', 'PhotoRetitled'] }] })).events.filter(e => e.stream === 'album'), 'read({ query })')
    const delivered: RecordedEvent[][] = [[], []]
    const subs = delivered.map(into => db.subscribe({ streams: { prefix: 'album' } }, e => { into.push(e) }))
    for (const sub of subs) await sub.caughtUp()
    for (const sub of subs) await sub.close()
    delivered.forEach((events, i) => { check(events, `subscription ${i + 1} of 2 at once`) })
    const Album = defineAggregate({ name: 'album', initial: () => [] as RecordedEvent[], evolve: (state, e) => [...state, e] })
    check((await db.load(Album, 'album')).state, 'load')
    check(await collect(db.readStream('album')), 'readStream after all of them')
    await db.close()
    const plain = await f.open()
    t.teardown(async () => { await plain.close() })
    t.same((await collect(plain.readStream('album'))).map(e => [e.type, e.version, e.data, e.metadata]), [
      ['PhotoUploaded', 1, { photoId: 'p0', title: 'Dunes' }, {}], ['PhotoAdded', 1, { photoId: 'p1', title: 'Harbour' }, {}],
      ['PhotoRetitled', 1, { photoId: 'p0', title: 'The dunes' }, {}], ['PhotoAdded', 2, { photoId: 'p2', title: 'Market', camera: 'Pixel 8' }, {}],
      ['PhotoAdded', 3, { photoId: 'p3', title: 'Forest', camera: 'Pixel 8', tags: ['trees'] }, {}]
    ], 'what is stored is as it was written')
  })

  t.test('projection handlers, async and inline, receive events upcast', async t => {
    const f = await fixture(t)
    const db = await opened(t, f)
    const handled = (name: string, mode: 'async' | 'inline'): ReturnType<typeof defineProjection> => defineProjection({
      name,
      mode,
      types: ['PhotoAdded'],
      handle: (e, view) => { view.put(e.data.photoId, { version: e.version, tags: e.data.tags, camera: e.data.camera }) }
    })
    const later = await db.project(handled('later', 'async'))
    // inline where this process can run it (see inline.ts)
    const inline = await db.project(handled('inline', inlineMode(backend)))
    await db.append('album', { type: 'PhotoAdded', data: { photoId: 'p4', title: 'Rooftops', camera: 'X', tags: ['roofs'] } })
    await later.caughtUp()
    await inline.caughtUp()
    for (const view of [later, inline]) {
      t.same(await collect(view.query()), [
        ['p0', { version: 3, tags: [], camera: null }], ['p1', { version: 3, tags: [], camera: null }],
        ['p2', { version: 3, tags: [], camera: 'Pixel 8' }], ['p3', { version: 3, tags: ['trees'], camera: 'Pixel 8' }],
        ['p4', { version: 3, tags: ['roofs'], camera: 'X' }], ['q0', { version: 3, tags: [], camera: null }]
      ])
    }
  })

  t.test('appends record their type\'s current version; undeclared types are at 1; later versions read as stored', async t => {
    const f = await fixture(t)
    let db = await f.open({ events: { ...photoEvents, Boxed: { version: 5, upcast: { 1: e => e, 2: e => e, 3: e => e, 4: e => e } } } })
    await db.append('s', [{ type: 'Boxed' }, { type: 'Plain' }])
    await db.close()
    db = await opened(t, f, { events: photoEvents })
    t.same((await collect(db.readStream('s'))).map(e => [e.type, e.version]), [['Boxed', 5], ['Plain', 1]],
      'an event stored past its type\'s version (by newer code) reads as it is')
  })

  t.test('a declaration at version 1 changes nothing', async t => {
    const f = await fixture(t)
    const db = await opened(t, f, { events: { PhotoRetitled: { version: 1 } } })
    t.same((await collect(db.readStream('album'))).map(e => [e.type, e.version]), [['PhotoUploaded', 1], ['PhotoAdded', 1], ['PhotoRetitled', 1], ['PhotoAdded', 2], ['PhotoAdded', 3]])
  })

  t.test('personal fields: a step sees them sealed, may move them; opening follows them, and a shredded one stays null', async t => {
    const f = await backend.make()
    t.teardown(async () => { await f.cleanup() })
    const personalData = { UserRegistered: { subject: 'userId', fields: ['email'] } }
    let db = await f.open({ personalData })
    await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com' } })
    await db.append('user-2', { type: 'UserRegistered', data: { userId: 'user-2', email: 'b@example.com' } })
    await db.close()
    const seen: string[] = []
    const events = {
      UserRegistered: {
        version: 3,
        upcast: {
          // v2 moves the email into `contact` (and keeps a copy); v3 drops the copy
          1: (e: { type: string, data: any, metadata: Record<string, unknown> }) => {
            seen.push(e.data.email.constructor.name)
            try { seen.push(String(e.data.email)) } catch (err) { seen.push((err as { code: string }).code) }
            return { ...e, data: { userId: e.data.userId, contact: { email: e.data.email }, copy: e.data.email } }
          },
          2: (e: { type: string, data: any, metadata: Record<string, unknown> }) => ({ ...e, data: { userId: e.data.userId, contact: e.data.contact } })
        }
      }
    }
    db = await f.open({ personalData, events })
    t.same((await collect(db.readAll())).map(e => [e.version, e.data, e.redacted]), [
      [3, { userId: 'user-1', contact: { email: 'a@example.com' } }, undefined],
      [3, { userId: 'user-2', contact: { email: 'b@example.com' } }, undefined]
    ], 'a moved field opens where it is now')
    t.same(seen.slice(0, 2), ['Sealed', 'ANNALS_SEALED'], 'the step saw it sealed, and could not read it')
    await db.shred('user-1')
    const after = await collect(db.readAll())
    t.same(after.map(e => [e.data, e.redacted]), [
      [{ userId: 'user-1', contact: { email: null } }, ['contact.email']],
      [{ userId: 'user-2', contact: { email: 'b@example.com' } }, undefined]
    ], 'after the shred: null, listed where it is now')
    await db.close()
    // any step, any place: the shredded field is null wherever it went
    const copying = { UserRegistered: { version: 2, upcast: { 1: (e: any) => ({ ...e, data: { ...e.data, a: [e.data.email], b: { c: e.data.email } } }) } } }
    db = await opened(t, f, { personalData, events: copying })
    const [one] = await collect(db.readAll({ to: 0 }))
    t.same(one!.data, { userId: 'user-1', email: null, a: [null], b: { c: null } })
    t.same(one!.redacted, ['email', 'a.0', 'b.c'])
  })

  t.test('a step that fails fails the read with ANNALS_UPCAST_FAILED, naming the position and the type', async t => {
    const f = await fixture(t)
    const boom = new Error('no camera')
    const db = await opened(t, f, { events: { ...photoEvents, PhotoAdded: { version: 3, upcast: { 1: () => { throw boom }, 2: photoEvents.PhotoAdded!.upcast![2]! } } } })
    const failure = { code: 'ANNALS_UPCAST_FAILED', position: 1, type: 'PhotoAdded', version: 1, cause: boom }
    await t.rejects(collect(db.readStream('album')), failure, 'readStream')
    await t.rejects(collect(db.readAll()), failure, 'readAll')
    await t.rejects(collect(db.readAll({ types: ['PhotoRetitled'] })), failure, 'a read by type upcasts what it may keep')
    t.same((await collect(db.readAll({ to: 0 }))).map(e => e.type), ['PhotoAdded'], 'the events before it read')
    const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: n => n + 1 })
    await t.rejects(db.load(Count, 'album'), failure, 'load')
    t.same((await db.load(Count, 'album', { at: { revision: 0 } })).state, 1, 'load before it')
    const errors: unknown[] = []
    const sub = db.subscribe({ onError: err => { errors.push(err) } }, () => {})
    await t.rejects(sub.caughtUp())
    t.match(errors, [failure], 'a subscription stops with it')
    const view = await db.project(defineProjection({ name: 'v', handle: () => {} }))
    await t.rejects(view.caughtUp())
    t.match(view.status(), { state: 'failed', error: failure }, 'a projection stops with it')
  })

  t.test('a step returning something else than an event\'s shape fails the read', async t => {
    const cases: Array<[string, (e: any) => unknown]> = [
      ['nothing', () => undefined],
      ['an id', e => ({ ...e, id: 'other' })],
      ['a position', e => ({ ...e, position: 7 })],
      ['no type', e => ({ data: e.data, metadata: e.metadata })],
      ['metadata that is not an object', e => ({ ...e, metadata: [1] })],
      ['a promise', async e => e],
      ['a rename into a type at a lower version', e => ({ ...e, type: 'Undeclared' })]
    ]
    const f = await fixture(t)
    for (const [what, step] of cases) {
      const db = await f.open({ events: { PhotoUploaded: { version: 2, upcast: { 1: step as never } } } })
      await t.rejects(collect(db.readAll()), { code: 'ANNALS_UPCAST_FAILED', position: 0, type: 'PhotoUploaded' }, what)
      await db.close()
    }
    const db = await opened(t, f, { events: { PhotoUploaded: { version: 2, upcast: { 1: e => ({ type: e.type }) as never } } } })
    t.same((await collect(db.readAll({ to: 0 }))).map(e => [e.data, e.metadata]), [[null, {}]], 'absent data reads null, absent metadata {}, as appends do')
  })

  t.test('a new version ignores the snapshots made with the old one', async t => {
    const f = await fixture(t)
    let folded = 0
    const Titles = defineAggregate({
      name: 'titles',
      initial: () => [] as string[],
      evolve: (state, e) => { folded++; return e.type === 'PhotoAdded' ? [...state, `${String(e.data.title)}:${JSON.stringify(e.data.tags ?? null)}`] : state },
      snapshotEvery: 2
    })
    const v2 = { PhotoAdded: { version: 2, upcast: { 1: photoEvents.PhotoAdded!.upcast![1]! } } }
    let db = await f.open({ events: v2 })
    const before = (await db.load(Titles, 'album')).state
    t.same(before, ['Harbour:null', 'Market:null', 'Forest:["trees"]'])
    await db.close() // the snapshots are written
    db = await f.open({ events: v2 })
    folded = 0
    t.same((await db.load(Titles, 'album')).state, before)
    t.equal(folded, 1, 'the same versions use their snapshots')
    await db.close()
    db = await f.open({ events: photoEvents })
    folded = 0
    const now = (await db.load(Titles, 'album')).state
    t.same(now, ['Dunes:[]', 'Harbour:[]', 'Market:[]', 'Forest:["trees"]'], 'a new version folds from the events')
    t.equal(folded, 5)
    await db.close()
    db = await opened(t, f, { events: photoEvents })
    folded = 0
    t.same((await db.load(Titles, 'album')).state, now)
    t.equal(folded, 1, 'and its own snapshots serve it')
    t.ok(await db.pruneSnapshots([Titles]) > 0, 'pruning deletes those of the old versions')
    t.same((await db.load(Titles, 'album')).state, now)
  })

  t.test('a new version rebuilds the views of projections; the same versions keep them', async t => {
    const f = await fixture(t)
    let built = 0
    const Tags = defineProjection({
      name: 'tags',
      types: ['PhotoAdded'],
      handle: (e, view) => { built++; view.put(String(e.data.photoId), e.data.tags ?? null) }
    })
    const v2 = { PhotoAdded: { version: 2, upcast: { 1: photoEvents.PhotoAdded!.upcast![1]! } } }
    let db = await f.open({ events: v2 })
    let view = await db.project(Tags)
    await view.caughtUp()
    t.same(await collect(view.query()), [['p1', null], ['p2', null], ['p3', ['trees']]])
    await db.close()
    db = await f.open({ events: v2 })
    built = 0
    view = await db.project(Tags)
    await view.caughtUp()
    t.equal(built, 0, 'the same versions: the view is kept')
    await db.close()
    db = await opened(t, f, { events: photoEvents })
    view = await db.project(Tags)
    await view.caughtUp()
    t.same(await collect(view.query()), [['p0', []], ['p1', []], ['p2', []], ['p3', ['trees']], ['q0', []]], 'rebuilt, with the renamed events')
    t.equal(built, 5)
  })

  t.test('defineEvent checks its declaration: a TypeError, and nothing changes', async t => {
    const f = await backend.make()
    t.teardown(async () => { await f.cleanup() })
    const db = await opened(t, f, {})
    for (const [type, declaration] of badDeclarations) t.throws(() => { db.defineEvent(type, declaration as never) }, TypeError, `${type}: ${String(declaration)}`)
    await db.append('s', { type: 'PhotoAdded' })
    t.same((await collect(db.readAll())).map(e => e.version), [1], 'nothing was declared')
  })

  t.test('defineEvent: in force for the appends and reads after it; refused once projections are registered', async t => {
    const f = await fixture(t)
    const db = await opened(t, f, {})
    db.defineEvent('PhotoUploaded', photoEvents.PhotoUploaded!)
    db.defineEvent('PhotoAdded', photoEvents.PhotoAdded!)
    t.same((await collect(db.readStream('album'))).map(brief), ALBUM)
    await db.append('new', { type: 'PhotoAdded', data: { photoId: 'n' } })
    t.same((await collect(db.readStream('new'))).map(e => e.version), [3])
    const view = await db.project(defineProjection({ name: 'any', handle: () => {} }))
    await view.caughtUp()
    t.throws(() => { db.defineEvent('PhotoAdded', { version: 4, upcast: { ...photoEvents.PhotoAdded!.upcast, 3: (e: any) => e } }) }, TypeError)
    db.defineEvent('PhotoAdded', photoEvents.PhotoAdded!) // the same versions: fine
    db.defineEvent('Other', { version: 1 })
    t.same((await collect(db.readStream('new'))).map(e => e.version), [3])
  })
}
