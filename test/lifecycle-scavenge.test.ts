// Scavenging, on memory-level and classic-level: an interrupted scavenge is finished by the
// next one, which then removes exactly what an uninterrupted one removes (events, snapshots and
// the view history the removed events wrote).
import t from 'tap'
import { defineAggregate, defineProjection, type Annals } from '../src/index.js'
import { backends, collect } from './helpers/backends.js'

const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: (n: number) => n + 1, snapshotEvery: 5 })
const PerStream = defineProjection<number>({
  name: 'per-stream',
  mode: 'inline',
  async handle (event, view) {
    view.put(event.stream, (await view.get(event.stream) ?? 0) + 1)
  }
})

/** A database whose removed events are spread over many chunks (one per append). */
async function build (db: Annals): Promise<void> {
  await db.project(PerStream)
  for (let i = 0; i < 400; i++) await db.append(`s-${i % 8}`, { type: 'T', data: i })
  for (let i = 0; i < 8; i++) await db.load(Count, `s-${i}`)
  await db.deleteStream('s-0')
  await db.truncateStream('s-1', { before: 25 })
  await db.setStreamMetadata('s-2', { maxCount: 10 })
  await db.tombstoneStream('s-3')
}

class Interrupted extends Error {}

for (const backend of backends.filter(b => !b.name.includes('sublevel'))) {
  t.test(`${backend.name}: a scavenge interrupted after its first batch is finished by the next`, async t => {
    const whole = await backend.make()
    const cut = await backend.make()
    t.teardown(async () => { await whole.cleanup(); await cut.cleanup() })
    const a = await whole.open()
    const b = await cut.open()
    await build(a)
    await build(b)
    const expected = await a.scavenge()
    t.ok(expected.removed > 100 && expected.snapshots > 0 && expected.history > 100, `an uninterrupted scavenge: ${JSON.stringify(expected)}`)

    let batches = 0
    const stopped = await b.scavenge({ onProgress: () => { if (++batches === 1) throw new Interrupted() } }).catch((err: unknown) => err)
    t.ok(stopped instanceof Interrupted, 'the first scavenge stopped after its first batch')
    await b.close()
    const again = await cut.open()
    await again.project(PerStream)
    const finished = await again.scavenge()
    t.equal(finished.history, expected.history, 'the second scavenge drops the history of every removed event, those of the first batch too')
    t.equal(finished.snapshots, expected.snapshots)
    t.ok(finished.removed > 0 && finished.removed < expected.removed, `the second removes the rest (${finished.removed} of ${expected.removed})`)
    t.same((await again.scavenge()).removed, 0, 'nothing is left')
    t.same((await collect(again.readAll())).map(e => [e.stream, e.revision, e.data]), (await collect(a.readAll())).map(e => [e.stream, e.revision, e.data]))
    await a.close()
    await again.close()
  })
}
