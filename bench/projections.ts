// Workloads of projections off the scale curve (catching up is on it: bench/reads.ts): appends
// with an inline projection beside the same appends without, and a view's time travel, a get as
// of a past position, beside a raw classic-level get.
import { defineProjection, open, type Annals, type RecordedEvent, type ViewWriter } from '../src/index.js'
import type { Config } from './options.js'
import { concurrently, eventMaker, freshDir, inBatches, key8, median, onRaw, rawLevel, seeded } from './lib.js'
import type { Timing, Workload } from './measure.js'
import { rawValue } from './appends.js'
import { pack } from 'msgpackr'

/** Photos per user: one document per stream, as the demo keeps. */
const perUser = async (event: RecordedEvent, view: ViewWriter<number>): Promise<void> => {
  view.put(event.stream, (await view.get(event.stream) ?? 0) + 1)
}

/** The inline and time-travel workloads; `close` closes their databases. */
export async function projectionWorkloads (config: Config): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const { appends, viewChanges, gets } = config.sizes
  const event = eventMaker(config.shape)
  const inlineCost = (inline: boolean) => async (): Promise<Timing> => {
    const db = await open(freshDir(inline ? 'p-inline' : 'p-plain'))
    try {
      if (inline) await db.project(defineProjection({ name: 'photos-per-user', mode: 'inline', handle: perUser }))
      const start = performance.now()
      await concurrently(appends, 64, async i => {
        const e = event(i)
        await db.append(e.stream, { type: e.type, data: e.data })
      })
      return { events: appends, ms: performance.now() - start }
    } finally {
      await db.close()
    }
  }

  // What an inline view's writes cost LevelDB itself: raw batches of 64 records (as 64 concurrent
  // appends make), with and without a document and a history key per event, as the counter writes.
  const rawBatches = (view: boolean) => onRaw(view ? 'p-raw-view' : 'p-raw-plain', appends, async raw => {
    const counts = new Map<string, number>()
    await inBatches(raw, appends, 64, (batch, j) => {
      const e = event(j)
      batch.put(key8(j), rawValue(e, j))
      if (!view) return
      const count = (counts.get(e.stream) ?? 0) + 1
      counts.set(e.stream, count)
      batch.put(Buffer.from(`Vphotos-per-user\u0000${e.stream}`), pack(count))
      batch.put(Buffer.concat([Buffer.from(`Hphotos-per-user\u0000${e.stream}\u0000`), key8(j)]), pack(count))
    })
  })

  // a view of 1,000 documents (photos per user) changed `viewChanges` times, and raw keys to get
  const db: Annals = await open(freshDir('p-at'))
  const raw = await rawLevel('p-at-raw')
  for (let i = 0; i < viewChanges; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, viewChanges - i) }, async (_, k) =>
      await db.append(`user-${(i + k) * 7919 % 1000}`, { type: 'PhotoAdded' })))
  }
  const view = await db.project(defineProjection({ name: 'photos-per-user', handle: perUser }))
  await view.caughtUp()
  for (let i = 0; i < 1000; i++) await raw.put(key8(i), key8(i))
  const timedGets = (get: (position: number, user: number) => Promise<unknown>) => async (): Promise<Timing> => {
    const next = seeded(7)
    const each: number[] = []
    const start = performance.now()
    for (let i = 0; i < gets; i++) {
      const position = Math.floor(next() * viewChanges)
      const user = Math.floor(next() * 1000)
      const t = performance.now()
      await get(position, user)
      each.push(performance.now() - t)
    }
    return { events: gets, ms: performance.now() - start, medianMs: median(each) }
  }
  return {
    workloads: [
      {
        name: 'append 1 event, 64 concurrent, with an inline projection',
        unit: 'events',
        raw: 'the same without it',
        // at most 1.5 times the time: at least 1/1.5 of the rate
        target: 1 / 1.5,
        annals: inlineCost(true),
        baseline: inlineCost(false)
      },
      {
        name: 'raw classic-level: batches of 64 events, with a document and a history key each',
        unit: 'events',
        raw: 'the events alone',
        annals: rawBatches(true),
        baseline: rawBatches(false)
      },
      {
        name: `time travel of a view: at({ position }).get, ${viewChanges.toLocaleString('en-US')} changes`,
        unit: 'ops',
        raw: 'a get',
        maxMs: 5,
        annals: timedGets(async (position, user) => await (await view.at({ position })).get(`user-${user}`)),
        baseline: timedGets(async (_, user) => await raw.get(key8(user)))
      }
    ],
    close: async () => { await db.close(); await raw.close() }
  }
}
