// The clock going backwards (an NTP step, a VM resumed, a clock set by hand): commit times
// must still never decrease with position, across reopens too (the last commit time is read
// back from the log), and time travel by time must stay exact. Random sequences of clock moves
// (forwards, and back by up to an hour), concurrent appends and reopens, on every backend; then
// `readAll` must return every event with the time it was committed at, and `load` and an inline
// view's `at` by time must equal the fold of the events committed at or before that time.
import { deepStrictEqual, ok } from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import { defineAggregate, defineProjection, type Annals, type RecordedEvent } from '../src/index.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import { backends, collect } from './helpers/backends.js'

const START = 1_700_000_000_000
const streams = ['a', 'b', 'c']

const Counter = defineAggregate({
  name: 'counter',
  snapshotEvery: 2,
  initial: () => ({ count: 0, sum: 0 }),
  evolve: (s: { count: number, sum: number }, e) => ({ count: s.count + 1, sum: s.sum + (e.data as number) })
})
const Counts = defineProjection<number>({
  name: 'counts',
  mode: 'inline',
  async handle (event, view) { view.put(event.stream, (await view.get(event.stream) ?? 0) + 1) }
})

type Step =
  | { kind: 'clock', by: number }
  | { kind: 'append', appends: Array<{ stream: string, data: number[] }> }
  | { kind: 'reopen' }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 7, 1000, -1, -20, -60_000, -3_600_000).map(by => ({ kind: 'clock' as const, by })), weight: 3 },
  {
    arbitrary: fc.array(fc.record({ stream: fc.constantFrom(...streams), data: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 3 })
      .map(appends => ({ kind: 'append' as const, appends })),
    weight: 4
  },
  { arbitrary: fc.constant({ kind: 'reopen' as const }), weight: 1 }
)

const realNow = Date.now
t.teardown(() => { Date.now = realNow })
const defaultFlush = indexSettings.flushEvents
t.teardown(() => { indexSettings.flushEvents = defaultFlush })

// the backends that take commit times from this process's clock (PostgreSQL takes the server's,
// which no test here can move back: its functions keep the head's time as a floor the same way)
for (const backend of backends.filter(b => b.clockHere !== false)) {
  t.test(`commit times never decrease when the clock goes back, on ${backend.name}`, async t => {
    let steps = 0
    await fc.assert(fc.asyncProperty(fc.array(stepArb, { minLength: 5, maxLength: 60, size: 'max' }), fc.integer({ min: 1, max: 6 }), async (plan, flush) => {
      indexSettings.flushEvents = flush
      let clock = START
      let highest = clock
      Date.now = () => clock
      const fixture = await backend.make()
      let db: Annals = await fixture.open()
      let counts = await db.project(Counts)
      const seen: RecordedEvent[] = []
      try {
        for (const step of plan) {
          steps++
          if (step.kind === 'clock') {
            clock += step.by
            highest = Math.max(highest, clock)
          } else if (step.kind === 'reopen') {
            await db.close()
            db = await fixture.open()
            counts = await db.project(Counts)
          } else {
            await Promise.all(step.appends.map(async a => await db.append(a.stream, a.data.map(n => ({ type: 'Added', data: n })))))
            const added = await collect(db.readAll({ from: seen.length }))
            for (const e of added) {
              const before = seen.at(-1)?.time ?? -Infinity
              ok(e.time >= before, `position ${e.position} was committed at ${e.time}, before position ${e.position - 1} (${before})`)
              ok(e.time >= clock && e.time <= highest, `position ${e.position} was committed at ${e.time}, the clock says ${clock} (highest so far ${highest})`)
            }
            seen.push(...added)
          }
        }
        // readAll gives every event as it was committed, forwards and backwards
        const shape = (e: RecordedEvent): unknown => [e.id, e.stream, e.revision, e.position, e.time, e.data]
        deepStrictEqual((await collect(db.readAll())).map(shape), seen.map(shape), 'readAll')
        deepStrictEqual((await collect(db.readAll({ backwards: true }))).map(shape), seen.slice().reverse().map(shape), 'readAll backwards')
        // time travel by time: at every commit time, just before and after it, and the clock's values
        const probes = new Set([START - 3_600_000 * 40, clock, highest, highest + 3_600_000])
        for (const e of seen) for (const d of [-1, 0, 1]) probes.add(e.time + d)
        for (const time of probes) {
          const upTo = seen.filter(e => e.time <= time)
          for (const stream of streams) {
            const events = upTo.filter(e => e.stream === stream)
            const want = {
              state: { count: events.length, sum: events.reduce((n, e) => n + (e.data as number), 0) },
              revision: events.at(-1)?.revision ?? -1,
              position: events.at(-1)?.position ?? -1
            }
            deepStrictEqual(await db.load(Counter, stream, { at: { time } }), want, `load(${stream}) at ${time}`)
          }
          const then = await counts.at({ time })
          const want = streams.map(s => [s, upTo.filter(e => e.stream === s).length]).filter(([, n]) => n !== 0)
          deepStrictEqual(await collect(then.query()), want, `the view at ${time}`)
        }
      } finally {
        Date.now = realNow
        await db.close()
        await fixture.cleanup()
      }
    }), { numRuns: backend.onDisk ? 30 : 100 })
    t.pass(`every run agreed (${steps} steps)`)
  })
}
