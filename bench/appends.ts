// Append workloads, each beside raw classic-level doing the same I/O in the same run: 8-byte
// big-endian keys, msgpackr values, the same events. Appends 64 concurrent and 100 per call are
// on the scale curve (a fresh log of each size); the others (awaited, and with sync) are not.
import { rmSync } from 'node:fs'
import { pack } from 'msgpackr'
import { open, type Annals } from '../src/index.js'
import type { Config } from './options.js'
import { concurrently, eventMaker, freshDir, inBatches, key8, onRaw, timed, type Raw, type SampleEvent } from './lib.js'
import type { Timing, Workload } from './measure.js'

/** An event as the raw baseline stores it: a msgpack map. */
export function rawValue (e: SampleEvent, position: number): Buffer {
  return pack({ stream: e.stream, type: e.type, data: e.data, position, time: Date.now() })
}

/** A measurement of `events` events written by `body` on a fresh annals database, removed after. */
export function onAnnals (name: string, events: number, sync: boolean, body: (db: Annals) => Promise<void>): () => Promise<Timing> {
  return async () => {
    const dir = freshDir(name)
    const db = await open(dir, { sync })
    try {
      return await timed(events, async () => { await body(db) })
    } finally {
      await db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** The ways of appending, on annals and raw, for events made by `event`. */
export function appenders (event: (i: number) => SampleEvent) {
  const appendOne = async (db: Annals, i: number): Promise<unknown> => {
    const e = event(i)
    return await db.append(e.stream, { type: e.type, data: e.data })
  }
  return {
    awaited: (n: number) => async (db: Annals) => {
      for (let i = 0; i < n; i++) await appendOne(db, i)
    },
    concurrent: (n: number) => async (db: Annals) => {
      await concurrently(n, 64, async i => await appendOne(db, i))
    },
    hundreds: (n: number) => async (db: Annals) => {
      for (let i = 0; i < n; i += 100) {
        const events = []
        for (let j = i; j < Math.min(i + 100, n); j++) {
          const e = event(j)
          events.push({ type: e.type, data: e.data })
        }
        await db.append(event(i / 100).stream, events)
      }
    },
    rawPuts: (n: number, sync: boolean) => async (raw: Raw) => {
      for (let i = 0; i < n; i++) await raw.put(key8(i), rawValue(event(i), i), { sync })
    },
    rawBatches: (n: number, sync: boolean) => async (raw: Raw) => {
      await inBatches(raw, n, 100, (batch, j) => batch.put(key8(j), rawValue(event(j), j)), sync)
    }
  }
}

/** Appends 64 concurrent and 100 per call to a fresh log, `events` of them: on the scale curve. */
export function curveAppends (config: Config, events: number): Workload[] {
  const a = appenders(eventMaker(config.shape))
  const rawBatch100 = onRaw('raw-batch', events, a.rawBatches(events, false))
  return [
    {
      name: 'append 1 event, 64 concurrent callers',
      series: 'append-64',
      logEvents: events,
      unit: 'events',
      raw: 'batch of 100',
      target: 0.6,
      annals: onAnnals('a-concurrent', events, false, a.concurrent(events)),
      baseline: rawBatch100
    },
    {
      name: 'append 100 events per call',
      series: 'append-100',
      logEvents: events,
      unit: 'events',
      raw: 'batch of 100',
      target: 0.5,
      annals: onAnnals('a-hundred', events, false, a.hundreds(events)),
      baseline: rawBatch100
    }
  ]
}

/** Appends awaited one at a time, and appends with sync: fixed sizes, off the curve. */
export function appendWorkloads (config: Config): Workload[] {
  const a = appenders(eventMaker(config.shape))
  const { awaited, syncAwaited } = config.sizes
  const syncPuts = onRaw('raw-sync-put', syncAwaited, a.rawPuts(syncAwaited, true))
  return [
    {
      name: 'append 1 event, awaited one at a time',
      unit: 'events',
      raw: 'awaited put',
      target: 0.7,
      annals: onAnnals('a-awaited', awaited, false, a.awaited(awaited)),
      baseline: onRaw('raw-put', awaited, a.rawPuts(awaited, false))
    },
    {
      name: 'append 1 event, awaited, sync',
      unit: 'events',
      raw: 'awaited put, sync',
      annals: onAnnals('a-awaited-sync', syncAwaited, true, a.awaited(syncAwaited)),
      baseline: syncPuts
    },
    {
      name: 'append 1 event, 64 concurrent, sync',
      unit: 'events',
      raw: 'awaited put, sync',
      target: 5,
      annals: onAnnals('a-concurrent-sync', syncAwaited * 10, true, a.concurrent(syncAwaited * 10)),
      baseline: syncPuts
    },
    {
      name: 'append 100 events per call, sync',
      unit: 'events',
      raw: 'batch of 100, sync',
      annals: onAnnals('a-hundred-sync', syncAwaited * 10, true, a.hundreds(syncAwaited * 10)),
      baseline: onRaw('raw-batch-sync', syncAwaited * 10, a.rawBatches(syncAwaited * 10, true))
    }
  ]
}
