// Two lookups the log offers for time travel, against a linear scan: the last position at or
// before a moment (binary search over record times) and the last revision of a stream at or
// before a position (the stream index, on disk and in its tail).
import t from 'tap'
import fc from 'fast-check'
import { MemoryLevel } from 'memory-level'
import { Log } from '../src/log/log.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import type { RecordedEvent } from '../src/log/types.js'
import { checkEvents } from '../src/log/validate.js'
import { EventIterator } from '../src/log/reader.js'
import { openLog as openTestLog } from './helpers/log.js'
import { collect } from './helpers/backends.js'

const realNow = Date.now
t.teardown(() => { Date.now = realNow })
const defaultFlush = indexSettings.flushEvents
t.teardown(() => { indexSettings.flushEvents = defaultFlush })

async function openLog (level: MemoryLevel): Promise<{ log: Log, close: () => Promise<void> }> {
  const { log } = await openTestLog(level)
  return { log, close: async () => { await log.close() } }
}

async function readAll (log: Log): Promise<RecordedEvent[]> {
  return await collect(new EventIterator(() => log.chunks({ from: undefined, to: undefined, backwards: false, limit: Infinity }), () => {}))
}

interface Batch { step: number, appends: Array<{ stream: string, count: number }> }

// a batch: some appends fired together (one commit, one time), after the clock moved on by `step`
const batchArb: fc.Arbitrary<Batch> = fc.record({
  step: fc.constantFrom(0, 0, 1, 2, 5, 1000),
  appends: fc.array(fc.record({ stream: fc.constantFrom('a', 'b', 'c'), count: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 3 })
})

async function fill (log: Log, batches: Batch[]): Promise<void> {
  let clock = 1_000_000
  Date.now = () => clock
  try {
    for (const b of batches) {
      clock += b.step
      await Promise.all(b.appends.map(async a => await log.append(a.stream, checkEvents(Array.from({ length: a.count }, () => ({ type: 'T' }))), 'any', false)))
    }
  } finally {
    Date.now = realNow
  }
}

t.test('positionAt finds the last position at or before a moment', async t => {
  await fc.assert(fc.asyncProperty(fc.array(batchArb, { maxLength: 25 }), fc.integer({ min: 1, max: 8 }), async (batches, flush) => {
    indexSettings.flushEvents = flush
    const level = new MemoryLevel()
    const { log, close } = await openLog(level)
    try {
      await fill(log, batches)
      const events = await readAll(log)
      const times = events.map(e => e.time)
      for (let i = 1; i < times.length; i++) t.ok(times[i]! >= times[i - 1]!, 'times never decrease')
      const probes = new Set([0, 999_999, 1_000_000, Infinity, -Infinity])
      for (const time of times) for (const d of [-1, 0, 0.5, 1]) probes.add(time + d)
      for (const time of probes) {
        let want = -1
        for (const e of events) if (e.time <= time) want = e.position
        const got = await log.positionAt(time)
        if (got !== want) throw new Error(`positionAt(${time}) = ${got}, want ${want}; times ${JSON.stringify(times)}`)
      }
    } finally {
      await close()
      await level.close()
    }
  }), { numRuns: 150 })
})

t.test('revisionAt finds the last revision of a stream at or before a position, on disk, in the tail, after reopen', async () => {
  await fc.assert(fc.asyncProperty(fc.array(batchArb, { maxLength: 25 }), fc.integer({ min: 1, max: 8 }), async (batches, flush) => {
    indexSettings.flushEvents = flush
    const level = new MemoryLevel()
    let { log, close } = await openLog(level)
    try {
      await fill(log, batches)
      const events = await readAll(log)
      const check = async (): Promise<void> => {
        for (const stream of ['a', 'b', 'c', 'none']) {
          for (let position = -1; position <= events.length + 1; position++) {
            let want = -1
            for (const e of events) if (e.stream === stream && e.position <= position) want = e.revision
            const got = await log.revisionAt(stream, position)
            if (got !== want) throw new Error(`revisionAt(${stream}, ${position}) = ${got}, want ${want}`)
          }
        }
      }
      await check()
      // reopened, the tail is rebuilt from the records after the index's marker
      await close()
      ;({ log, close } = await openLog(level))
      await check()
    } finally {
      await close()
      await level.close()
    }
  }), { numRuns: 150 })
})

t.test('revisionAt searches many blocks of one stream', async t => {
  indexSettings.flushEvents = 4
  const level = new MemoryLevel()
  const { log, close } = await openLog(level)
  t.teardown(async () => { await close(); await level.close() })
  // 'x' gets one event in every other position: one block per flush, dozens of blocks
  for (let i = 0; i < 400; i++) await log.append(i % 2 === 0 ? 'x' : `o${i % 7}`, checkEvents({ type: 'T' }), 'any', false)
  for (let position = -1; position < 402; position++) {
    t.equal(await log.revisionAt('x', position), position < 0 ? -1 : Math.min(199, Math.floor(position / 2)))
  }
})
