// A long stream, tens of thousands of events among another stream's, loads right with and
// without snapshots, now and at past revisions, positions and times, before and after reopen.
import t from 'tap'
import { defineAggregate, type RecordedEvent } from '../src/index.js'
import { backends, collect } from './helpers/backends.js'

const EVENTS = 30_000
const text = 'a photo of the dunes at dusk, '.repeat(4)

interface Album { photos: number, bytes: number, titles: string[] }
const evolve = (s: Album, e: RecordedEvent): Album => ({
  photos: s.photos + (e.type === 'PhotoAdded' ? 1 : -1),
  bytes: s.bytes + e.data.size,
  titles: [...s.titles.slice(-2), e.data.title]
})
const initial = (): Album => ({ photos: 0, bytes: 0, titles: [] })
const WithSnapshots = defineAggregate({ name: 'album', initial, evolve, snapshotEvery: 100 })
const WithoutSnapshots = defineAggregate({ name: 'album-plain', initial, evolve })

for (const backend of backends.filter(b => b.name === 'memory-level' || b.name === 'classic-level')) {
  t.test(`a stream of ${EVENTS} events on ${backend.name}`, async t => {
    const f = await backend.make()
    t.teardown(f.cleanup)
    let db = await f.open()
    const realNow = Date.now
    let clock = 1_700_000_000_000
    Date.now = () => clock
    try {
      for (let i = 0; i < EVENTS; i += 500) {
        clock += 1000
        await Promise.all([
          db.append('long', Array.from({ length: 500 }, (_, j) => ({ type: (i + j) % 10 === 9 ? 'PhotoDeleted' : 'PhotoAdded', data: { size: i + j, title: `${text}${i + j}` } }))),
          db.append('other', { type: 'PhotoAdded', data: { size: 1, title: 'other' } })
        ])
      }
    } finally {
      Date.now = realNow
    }
    const events = (await collect(db.readAll())).filter(e => e.stream === 'long')
    t.equal(events.length, EVENTS)
    // the state after each revision, folded once
    const states: Album[] = []
    let state = initial()
    for (const e of events) states.push(state = evolve(state, e))
    const want = (revision: number): unknown => revision < 0
      ? { state: initial(), revision: -1, position: -1 }
      : { state: states[revision], revision, position: events[revision]!.position }
    const revisions = [0, 1, 99, 100, 101, 4999, 12_345, 29_998, EVENTS - 1, ...Array.from({ length: 20 }, (_, i) => (i * 7919) % EVENTS)]

    for (const round of ['first', 'snapshots written, reopened']) {
      for (const aggregate of [WithSnapshots, WithoutSnapshots]) {
        t.same(await db.load(aggregate, 'long'), want(EVENTS - 1), `${round}, ${aggregate.name}: now`)
        // each load without snapshots folds from the start: a few of them say enough
        for (const revision of aggregate === WithSnapshots ? revisions : [12_345, 29_998]) {
          t.same(await db.load(aggregate, 'long', { at: { revision } }), want(revision), `${round}, ${aggregate.name}: revision ${revision}`)
          const e = events[revision]!
          t.same(await db.load(aggregate, 'long', { at: { position: e.position } }), want(revision), `position ${e.position}`)
          // a batch of 500 shares a commit time: the time of any of them gives the whole batch
          t.same(await db.load(aggregate, 'long', { at: { time: e.time } }), want(Math.floor(revision / 500) * 500 + 499), `time ${e.time}`)
        }
      }
      await db.close()
      db = await f.open()
    }
    await db.close()
  })
}
