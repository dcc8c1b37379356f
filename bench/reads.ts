// Read workloads on the scale curve, on a log of each size built beforehand by another process
// (so that building it counts in no figure of memory): replaying the whole log, reading one
// stream, a counter projection catching up. Each beside raw classic-level iterating over the same
// records and decoding them, in the same run.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { unpack } from 'msgpackr'
import { defineProjection, open, type Annals, type RecordedEvent, type ViewWriter } from '../src/index.js'
import type { Config } from './options.js'
import { BENCH_DIR, eventMaker, freshDir, key8, rawLevel } from './lib.js'
import { rawValue } from './appends.js'
import type { Timing, Workload } from './measure.js'

/** One stream ('big') holds every tenth event of the log, spread through it. */
const BIG_EVERY = 10

const names = (events: number): { annals: string, raw: string } => ({ annals: `log-${events}`, raw: `log-${events}-raw` })

/** Writes a log of `events` events to annals and to raw classic-level: 1,000 appends in flight at a time. */
export async function buildLog (config: Config, events: number): Promise<void> {
  const event = eventMaker(config.shape)
  const db = await open(freshDir(names(events).annals))
  const raw = await rawLevel(names(events).raw)
  try {
    for (let i = 0; i < events; i += 1000) {
      const batch = raw.batch()
      const appends: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(i + 1000, events); j++) {
        const e = event(j)
        appends.push(db.append(j % BIG_EVERY === 0 ? 'big' : e.stream, { type: e.type, data: e.data }))
        batch.put(key8(j), rawValue(e, j))
      }
      await Promise.all([...appends, batch.write()])
    }
  } finally {
    await db.close()
    await raw.close()
  }
}

async function timed (events: number, fn: () => Promise<number>): Promise<Timing> {
  const start = performance.now()
  const n = await fn()
  const ms = performance.now() - start
  if (n !== events) throw new Error(`read ${n} events where ${events} were expected`)
  return { events, ms }
}

/** Reads all the events of a read, and says how many there were. */
async function counted (events: AsyncIterable<RecordedEvent>): Promise<number> {
  let n = 0
  for await (const e of events) if (e.position >= 0) n++
  return n
}

const countAll = async (_: RecordedEvent, view: ViewWriter<number>): Promise<void> => {
  view.put('count', (await view.get('count') ?? 0) + 1)
}

/**
 * The read workloads on the log of `events` events; `close` removes it. Each run opens the
 * database it reads and closes it after, so that the table files one side mapped into memory
 * count in no figure of the other's.
 */
export async function readWorkloads (_: Config, events: number): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const dirs = names(events)
  const big = Math.ceil(events / BIG_EVERY)
  const onAnnals = (count: number, read: (db: Annals) => Promise<number>) => async (): Promise<Timing> => {
    const db = await open(join(BENCH_DIR, dirs.annals))
    try {
      return await timed(count, async () => await read(db))
    } finally { await db.close() }
  }
  const rawReplay = async (): Promise<Timing> => {
    const raw = await rawLevel(dirs.raw, false)
    try {
      return await timed(events, async () => {
        let n = 0
        const it = raw.iterator()
        try {
          for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
            for (const [, value] of entries) if (unpack(value) !== undefined) n++
          }
        } finally { await it.close() }
        return n
      })
    } finally { await raw.close() }
  }
  let counters = 0
  const common = { logEvents: events, unit: 'events' as const, raw: 'iterate and decode', baseline: rawReplay }
  return {
    workloads: [
      {
        ...common,
        name: 'replay the whole log (readAll)',
        series: 'replay',
        target: 0.7,
        // the memory target: a replay of 1,000,000 events in under 150 MB
        maxRssMB: events >= 1_000_000 ? 150 : undefined,
        annals: onAnnals(events, async db => await counted(db.readAll()))
      },
      {
        ...common,
        name: 'read one stream (a tenth of the log)',
        series: 'read-stream',
        target: 0.5,
        annals: onAnnals(big, async db => await counted(db.readStream('big')))
      },
      {
        ...common,
        name: 'catch up a counter projection',
        series: 'catch-up',
        target: 0.5,
        // a new name each run: a view of its own, built from the first event
        annals: onAnnals(events, async db => {
          const counter = await db.project(defineProjection({ name: `counter-${counters++}`, handle: countAll }))
          await counter.caughtUp()
          return await counter.get('count') ?? 0
        })
      }
    ],
    close: async () => {
      for (const dir of Object.values(dirs)) rmSync(join(BENCH_DIR, dir), { recursive: true, force: true })
    }
  }
}
