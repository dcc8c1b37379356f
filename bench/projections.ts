// Workloads of projections: catching up a counter over a long log beside raw classic-level
// replaying the same records; appends with an inline projection beside the same appends
// without; and reads of a view as of past positions.
import { unpack } from 'msgpackr'
import { defineProjection, open, type Annals, type RecordedEvent, type ViewWriter } from '../src/index.js'
import { concurrently, freshDir, key8, median, rawLevel, sampleEvent } from './lib.js'
import { rawValue, type Timing, type Workload } from './log.js'

export interface ProjectionSizes {
  /** events of the log a counter catches up on */
  catchUp: number
  /** events of the inline workload */
  appends: number
  /** changes of the view read as of past positions */
  changes: number
}

const countAll = async (_: RecordedEvent, view: ViewWriter<number>): Promise<void> => {
  view.put('count', (await view.get('count') ?? 0) + 1)
}

/** Photos per user: one document per stream, as the demo keeps. */
const perUser = async (event: RecordedEvent, view: ViewWriter<number>): Promise<void> => {
  view.put(event.stream, (await view.get(event.stream) ?? 0) + 1)
}

async function timed (events: number, fn: () => Promise<void>): Promise<Timing> {
  const start = performance.now()
  await fn()
  return { events, ms: performance.now() - start }
}

/** The catch-up and inline workloads; `close` removes their databases. */
export async function projectionWorkloads (s: ProjectionSizes): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const db = await open(freshDir('p-annals'))
  const raw = await rawLevel('p-raw')
  for (let i = 0; i < s.catchUp; i += 100) {
    const events = []
    const batch = raw.batch()
    for (let j = i; j < Math.min(i + 100, s.catchUp); j++) {
      const e = sampleEvent(j, 1000)
      events.push({ type: e.type, data: e.data })
      batch.put(key8(j), rawValue(j, 1000, j))
    }
    await Promise.all([db.append(sampleEvent(i / 100, 1000).stream, events), batch.write()])
  }
  let run = 0
  const appendOne = async (db: Annals, i: number): Promise<void> => {
    const e = sampleEvent(i, 1000)
    await db.append(e.stream, { type: e.type, data: e.data })
  }
  const appends = (inline: boolean) => async (): Promise<Timing> => {
    const db = await open(freshDir(inline ? 'p-inline' : 'p-plain'))
    try {
      if (inline) await db.project(defineProjection({ name: 'photos-per-user', mode: 'inline', handle: perUser }))
      return await timed(s.appends, async () => { await concurrently(s.appends, 64, async i => { await appendOne(db, i) }) })
    } finally {
      await db.close()
    }
  }
  return {
    workloads: [
      {
        name: `catch up a counter projection over ${s.catchUp.toLocaleString('en-US')} events`,
        raw: 'iterate and decode',
        target: 0.5,
        annals: async () => {
          // a new name each run: a view of its own, built from the first event
          const counter = await db.project(defineProjection({ name: `counter-${run++}`, handle: countAll }))
          const t = await timed(s.catchUp, async () => { await counter.caughtUp() })
          if (await counter.get('count') !== s.catchUp) throw new Error('the counter missed events')
          return t
        },
        baseline: async () => {
          let n = 0
          const t = await timed(s.catchUp, async () => {
            const it = raw.iterator()
            try {
              for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
                for (const [, value] of entries) if (unpack(value) !== undefined) n++
              }
            } finally { await it.close() }
          })
          if (n !== s.catchUp) throw new Error(`raw replay read ${n}`)
          return t
        }
      },
      {
        name: 'append 1 event, 64 concurrent, with an inline projection',
        raw: 'the same without it',
        // at most 1.5 times the time: at least 1/1.5 of the rate
        target: 0.67,
        annals: appends(true),
        baseline: appends(false)
      }
    ],
    close: async () => { await db.close(); await raw.close() }
  }
}

/**
 * The median time of `at({ position })` and a `get` on a view with `changes` changes (of 1,000
 * keys), at random positions, beside the median of a raw classic-level `get`.
 */
export async function atLatency (changes: number, samples: number): Promise<{ annalsMs: number, rawMs: number }> {
  const db = await open(freshDir('p-at'))
  const raw = await rawLevel('p-at-raw')
  try {
    for (let i = 0; i < changes; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, changes - i) }, async (_, k) =>
        await db.append(`user-${(i + k) * 7919 % 1000}`, { type: 'PhotoAdded' })))
    }
    const view = await db.project(defineProjection({ name: 'photos-per-user', handle: perUser }))
    await view.caughtUp()
    for (let i = 0; i < 1000; i++) await raw.put(key8(i), key8(i))
    const annals: number[] = []
    const rawTimes: number[] = []
    let seed = 7
    const next = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    for (let i = 0; i < samples; i++) {
      const position = next(changes)
      const key = `user-${next(1000)}`
      let start = performance.now()
      const then = await view.at({ position })
      if (await then.get(key) === null) throw new Error('unreachable')
      annals.push(performance.now() - start)
      start = performance.now()
      await raw.get(key8(next(1000)))
      rawTimes.push(performance.now() - start)
    }
    return { annalsMs: median(annals), rawMs: median(rawTimes) }
  } finally {
    await db.close()
    await raw.close()
  }
}
