// Read workloads on the scale curve, on a log of each size built beforehand by another process
// (so that building it counts in no figure of memory): replaying the whole log, reading one
// stream, a counter projection catching up, replaying events two versions old (upcast). Each beside raw classic-level iterating over the same
// records and decoding them, in the same run; replaying and reading the stream beside raw SQLite
// too (bench/sqlite.ts), and reading the stream beside annals replaying as many events.
import { rmSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
import { unpack } from 'msgpackr'
import { defineAggregate, defineProjection, open, type Annals, type EventDeclaration, type OpenOptions, type RecordedEvent, type UpcastStep, type ViewWriter } from '../src/index.js'
import type { Config } from './options.js'
import { BENCH_DIR, eventMaker, freshDir, key8, rawLevel, streamKey, timedRead, type SampleEvent } from './lib.js'
import { rawValue } from './appends.js'
import type { Reference, Timing, Workload } from './measure.js'
import { onSqlite, sqlite, sqliteLog } from './sqlite.js'

/** One stream ('big') holds every tenth event of the log, spread through it. */
const BIG_EVERY = 10

/** Where a log is kept: annals, raw classic-level and raw SQLite, folders under BENCH_DIR. */
export interface LogDirs { annals: string, raw: string, sqlite: string }

/**
 * Writes events 0 to `events` - 1, made by `event`, to annals, to raw classic-level (one key per
 * event by position and, when `byStream`, a second copy keyed by stream and revision) and to raw
 * SQLite where better-sqlite3 is installed: 1,000 appends in flight at a time.
 */
export async function writeLog (dirs: LogDirs, events: number, event: (i: number) => SampleEvent, byStream = false): Promise<void> {
  const db = await open(freshDir(dirs.annals))
  const raw = await rawLevel(dirs.raw)
  const table = sqliteLog(dirs.sqlite)
  const revisions = new Map<string, number>()
  try {
    for (let i = 0; i < events; i += 1000) {
      const batch = raw.batch()
      const appends: Array<Promise<unknown>> = []
      const rows: SampleEvent[] = []
      for (let j = i; j < Math.min(i + 1000, events); j++) {
        const e = event(j)
        appends.push(db.append(e.stream, { type: e.type, data: e.data }))
        batch.put(key8(j), rawValue(e, j))
        if (byStream) {
          const revision = revisions.get(e.stream) ?? 0
          revisions.set(e.stream, revision + 1)
          batch.put(streamKey('E', e.stream, revision), rawValue(e, j))
        }
        rows.push(e)
      }
      table?.write(rows)
      await Promise.all([...appends, batch.write()])
    }
  } finally {
    await db.close()
    await raw.close()
    table?.close()
  }
}

const names = (events: number): LogDirs =>
  ({ annals: `log-${events}`, raw: `log-${events}-raw`, sqlite: `log-${events}-sqlite` })

/** Writes the log of `events` events of the scale curve: every tenth event in stream 'big'. */
export async function buildLog (config: Config, events: number): Promise<void> {
  const event = eventMaker(config.shape)
  await writeLog(names(events), events, j => j % BIG_EVERY === 0 ? { ...event(j), stream: 'big' } : event(j))
}

/** Reads all the events of a read, and says how many there were. */
export async function counted (events: AsyncIterable<RecordedEvent>): Promise<number> {
  let n = 0
  for await (const e of events) if (e.position >= 0) n++
  return n
}

/**
 * The log's events are PhotoAdded at version 1: declared at version 3, each reads through two
 * steps, each giving the data a field more. `inPlace`: the steps change the event they are given
 * (each read's own objects, see docs/evolution.md), the way the docs recommend; `copying`: each
 * makes a new data object (`{ ...e.data, field }`), which costs V8 about half a microsecond a
 * step (a field added to a copy), measured beside it.
 */
const twoVersionsOn = (inPlace: boolean): Record<string, EventDeclaration> => ({
  PhotoAdded: {
    version: 3,
    upcast: inPlace
      ? {
          1: e => { e.data.license = 'all rights reserved'; return e },
          2: e => { e.data.tags = []; return e }
        }
      : {
          1: e => ({ ...e, data: { ...e.data, license: 'all rights reserved' } }),
          2: e => ({ ...e, data: { ...e.data, tags: [] } })
        }
  }
})
const stepsOf = (inPlace: boolean): UpcastStep[] => Object.values(twoVersionsOn(inPlace).PhotoAdded!.upcast!)

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
  const onAnnals = (count: number, read: (db: Annals) => Promise<number>, options?: OpenOptions) => async (): Promise<Timing> => {
    const db = await open(join(BENCH_DIR, dirs.annals), options)
    try {
      return await timedRead(count, async () => await read(db))
    } finally { await db.close() }
  }
  // with `steps`, each event decoded is then passed through them, as annals upcasts it
  const rawReplayWith = (steps?: UpcastStep[]) => async (): Promise<Timing> => {
    const raw = await rawLevel(dirs.raw, false)
    try {
      return await timedRead(events, async () => {
        let n = 0
        const it = raw.iterator()
        try {
          for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
            if (steps === undefined) {
              for (const [, value] of entries) if (unpack(value) !== undefined) n++
              continue
            }
            // the events of each read kept in an array, as annals hands them on: the steps'
            // objects escape, as they do there, and cannot be optimised away
            const upcast: unknown[] = []
            for (const [, value] of entries) {
              const e = unpack(value) as { type: string, data: unknown }
              let shape = { type: e.type, data: e.data, metadata: {} }
              for (const step of steps) shape = step(shape) as typeof shape
              upcast.push(shape)
            }
            n += upcast.length
          }
        } finally { await it.close() }
        return n
      })
    } finally { await raw.close() }
  }
  const rawReplay = rawReplayWith()
  // issue 17: annals reads at least 1.5 times as fast as raw SQLite
  const withSqlite = sqlite() !== null
  const sqliteRow = (raw: string, count: number, read: Parameters<typeof onSqlite>[2]): Reference[] =>
    withSqlite ? [{ raw, target: 1.5, run: onSqlite(dirs.sqlite, count, read) }] : []
  let counters = 0
  const common = { logEvents: events, unit: 'events' as const, raw: 'iterate and decode', baseline: rawReplay }
  return {
    workloads: [
      {
        ...common,
        name: 'replay the whole log (readAll)',
        series: 'replay',
        // issue 17: at least 0.9 of raw iterate and decode
        target: 0.9,
        // the memory target: a replay of 1,000,000 events in under 150 MB
        maxRssMB: events >= 1_000_000 ? 150 : undefined,
        annals: onAnnals(events, async db => await counted(db.readAll())),
        also: sqliteRow('raw SQLite, pages of 1,000 by position', events, db => db.replay())
      },
      {
        ...common,
        name: 'read one stream (a tenth of the log)',
        series: 'read-stream',
        target: 0.5,
        annals: onAnnals(big, async db => await counted(db.readStream('big'))),
        also: [
          ...sqliteRow('raw SQLite, by the (stream, revision) index', big, db => db.stream('big')),
          // issue 17: a stream read at least as fast as a replay of as many events
          { raw: 'annals, replaying as many events', target: 1, run: onAnnals(big, async db => await counted(db.readAll({ limit: big }))) }
        ]
      },
      {
        ...common,
        name: 'replay events two versions old (readAll, upcast)',
        series: 'upcast',
        // issue 14: reading events that need two upcast steps at least 0.8 of reading current ones
        raw: 'annals, replaying them as current events',
        target: 0.8,
        annals: onAnnals(events, async db => await counted(db.readAll()), { events: twoVersionsOn(true) }),
        baseline: onAnnals(events, async db => await counted(db.readAll())),
        // the same steps written as copies, and what the steps cost without annals: raw replays without them and with them
        also: [
          { raw: 'annals, through two steps that copy the data', run: onAnnals(events, async db => await counted(db.readAll()), { events: twoVersionsOn(false) }) },
          { raw: 'raw classic-level: iterate and decode', run: rawReplay },
          { raw: 'raw classic-level: iterate, decode, the same two steps', run: rawReplayWith(stepsOf(true)) },
          { raw: 'raw classic-level: iterate, decode, two steps that copy', run: rawReplayWith(stepsOf(false)) }
        ]
      },
      {
        ...common,
        name: 'catch up a counter projection',
        series: 'catch-up',
        // issue 17: async catch-up at least 0.6 of a raw replay
        target: 0.6,
        // a new name each run: a view of its own, built from the first event
        annals: onAnnals(events, async db => {
          const counter = await db.project(defineProjection({ name: `counter-${counters++}`, handle: countAll }))
          await counter.caughtUp()
          return await counter.get('count') ?? 0
        })
      },
      // on the log whose stream 'big' holds 10,000 events
      ...(events === 100_000 ? [eventLoopWorkload(events)] : [])
    ],
    close: async () => {
      for (const dir of Object.values(dirs)) rmSync(join(BENCH_DIR, dir), { recursive: true, force: true })
    }
  }
}

const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: (n: number) => n + 1 })

/**
 * Issue 11: the event loop's delay, at its 99th percentile, while a database just opened (its
 * caches empty) reads a stream of 10,000 events and loads that stream as it was at a past time,
 * ten times each. Point lookups are synchronous (`getSync`): this says what they cost others.
 */
export function eventLoopWorkload (events: number): Workload {
  const dirs = names(events)
  const big = Math.ceil(events / BIG_EVERY)
  return {
    name: `event-loop delay (p99) while a database just opened reads a ${big.toLocaleString('en-US')}-event stream and travels by time`,
    unit: 'ops',
    maxMs: 20,
    annals: async (): Promise<Timing> => {
      const histogram = monitorEventLoopDelay({ resolution: 1 })
      const start = performance.now()
      const db = await open(join(BENCH_DIR, dirs.annals))
      histogram.enable()
      try {
        const first = await db.readStream('big', { limit: 1 })[Symbol.asyncIterator]().next()
        const time = (first.value?.time ?? Date.now()) + 1
        for (let i = 0; i < 10; i++) {
          if (await counted(db.readStream('big')) !== big) throw new Error('the stream is not whole')
          await db.load(Count, 'big', { at: { time: time + i } })
        }
      } finally {
        histogram.disable()
        await db.close()
      }
      return { events: 1, ms: performance.now() - start, medianMs: histogram.percentile(99) / 1e6 }
    }
  }
}
