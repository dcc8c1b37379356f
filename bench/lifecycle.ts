// Workloads of streams' lives: scavenging the events of deleted streams out of a log, beside
// raw classic-level deleting the same number of keys in batches (and, for reference, the same
// deletes followed by a compaction of the whole database, as a scavenge ends with one); and
// appends while a scavenge runs, beside the same appends alone. The logs are built beforehand by
// another process (scavenge-build), and each run works on a copy of them, so that every run
// scavenges the same events.
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Annals } from '../src/index.js'
import { rawValue } from './appends.js'
import { BENCH_DIR, concurrently, eventMaker, freshDir, key8, rawLevel, type Raw } from './lib.js'
import type { Timing, Workload } from './measure.js'
import type { Config } from './options.js'

const BASE = 'scavenge-base'
const RAW_BASE = 'scavenge-raw-base'

/** The streams deleted: the first tenth of the shape's streams, so a tenth of the log's events. */
const deleted = (config: Config): number => Math.max(1, Math.round(config.shape.streams / 10))

/** Whether event `i` of the log belongs to a deleted stream (events go round the streams). */
const removed = (config: Config, i: number): boolean => i % config.shape.streams < deleted(config)

/** Writes the log of `config.sizes.scavengeLog` events to annals and to raw classic-level (one key per event). */
export async function buildScavengeLog (config: Config): Promise<void> {
  const events = config.sizes.scavengeLog
  const event = eventMaker(config.shape)
  const db = await open(freshDir(BASE))
  const raw = await rawLevel(RAW_BASE)
  try {
    for (let i = 0; i < events; i += 1000) {
      const batch = raw.batch()
      const appends: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(i + 1000, events); j++) {
        const e = event(j)
        appends.push(db.append(e.stream, { type: e.type, data: e.data }))
        batch.put(key8(j), rawValue(e, j))
      }
      await Promise.all([...appends, batch.write()])
    }
  } finally {
    await db.close()
    await raw.close()
  }
}

/** A copy of a base database for one run; the function returned removes it. */
function copy (base: string, name: string): { dir: string, remove: () => void } {
  const dir = freshDir(name)
  cpSync(join(BENCH_DIR, base), dir, { recursive: true })
  return { dir, remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}

/** Opens a copy of the log with a tenth of its streams deleted (not yet scavenged), runs `body`, removes the copy. */
async function onDeleted (config: Config, name: string, body: (db: Annals) => Promise<Timing>): Promise<Timing> {
  const { dir, remove } = copy(BASE, name)
  try {
    const db = await open(dir)
    try {
      for (let u = 0; u < deleted(config); u++) await db.deleteStream(`user-${u}`)
      return await body(db)
    } finally {
      await db.close()
    }
  } finally {
    remove()
  }
}

/** Deletes the keys of the removed events from a copy of the raw log, in batches of 1,000; then compacts it all when `compact`. */
function rawDeletes (config: Config, expected: number, compact: boolean): () => Promise<Timing> {
  return async () => {
    const { remove } = copy(RAW_BASE, 'scavenge-raw')
    const raw: Raw = await rawLevel('scavenge-raw', false)
    try {
      const start = performance.now()
      let n = 0
      let batch = raw.batch()
      for (let i = 0; i < config.sizes.scavengeLog; i++) {
        if (!removed(config, i)) continue
        batch.del(key8(i))
        if (++n % 1000 === 0) {
          await batch.write()
          batch = raw.batch()
        }
      }
      await batch.write()
      if (compact) await raw.compactRange(key8(0), key8(Number.MAX_SAFE_INTEGER))
      const ms = performance.now() - start
      if (n !== expected) throw new Error(`deleted ${n} keys where ${expected} were expected`)
      return { events: n, ms }
    } finally {
      await raw.close()
      remove()
    }
  }
}

/**
 * Appends, 64 concurrent, to streams that were not deleted: `count` of them, or (`until` given)
 * as many as are made until that settles (each caller one at least). Resolves with how many, in how long.
 */
async function appends (config: Config, db: Annals, count: number, until?: Promise<unknown>): Promise<Timing> {
  const event = eventMaker(config.shape)
  let over = false
  void until?.then(() => { over = true }, () => { over = true })
  const one = async (i: number): Promise<void> => {
    const e = event(config.sizes.scavengeLog + i)
    // the streams of the deleted tenth are left alone: they are what is being scavenged
    const stream = removed(config, config.sizes.scavengeLog + i) ? 'live' : e.stream
    await db.append(stream, { type: e.type, data: e.data })
  }
  const start = performance.now()
  if (until === undefined) {
    await concurrently(count, 64, one)
    return { events: count, ms: performance.now() - start }
  }
  let made = 0
  // each of the 64 callers appends once at least, then again while the scavenge runs
  const caller = async (): Promise<void> => { do await one(made++); while (!over) }
  await Promise.all(Array.from({ length: 64 }, caller))
  return { events: made, ms: performance.now() - start }
}

/** The workloads on the log {@link buildScavengeLog} wrote; `close` removes it. */
export async function scavengeWorkloads (config: Config): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const events = config.sizes.scavengeLog
  let expected = 0
  for (let i = 0; i < events; i++) if (removed(config, i)) expected++
  const fmt = (n: number): string => n.toLocaleString('en-US')
  const count = config.sizes.appends
  return {
    workloads: [{
      name: `scavenge ${fmt(expected)} events of deleted streams out of ${fmt(events)}`,
      unit: 'events',
      logEvents: events,
      raw: 'raw classic-level deleting as many keys, batches of 1,000',
      target: 0.5,
      maxRssMB: 200,
      annals: async () => await onDeleted(config, 'scavenge-annals', async db => {
        const start = performance.now()
        const { removed: n } = await db.scavenge()
        const ms = performance.now() - start
        if (n !== expected) throw new Error(`scavenged ${n} events where ${expected} were expected`)
        return { events: n, ms }
      }),
      baseline: rawDeletes(config, expected, false),
      also: [{ raw: 'the same deletes, then a compaction of the whole database', run: rawDeletes(config, expected, true) }]
    }, {
      name: `append 1 event, 64 concurrent, while a scavenge of ${fmt(expected)} events runs`,
      unit: 'events',
      logEvents: events,
      raw: 'annals, the same appends alone',
      target: 0.5,
      // as many appends as are made while the scavenge runs
      annals: async () => await onDeleted(config, 'scavenge-appends', async db => {
        const scavenge = db.scavenge()
        const timing = await appends(config, db, count, scavenge)
        await scavenge
        return timing
      }),
      baseline: async () => await onDeleted(config, 'scavenge-appends', async db => await appends(config, db, count))
    }],
    close: async () => {
      for (const name of [BASE, RAW_BASE]) rmSync(join(BENCH_DIR, name), { recursive: true, force: true })
    }
  }
}
