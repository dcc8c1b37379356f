// Workloads of streams' lives: scavenging the events of deleted streams out of a log, beside
// raw classic-level deleting the same events' keys in batches of the same positions as the
// scavenge's (and, for reference, the same deletes followed by a compaction of the range they
// span, as a scavenge ends with one of the ranges it deleted from; and raw classic-level holding
// the events 128 to a value, as annals's chunks, rewriting every value without the removed
// events, then compacting: the log's part of a scavenge's I/O); and a fixed number of
// appends made while a scavenge runs, beside the same appends alone. The logs are built beforehand by
// another process (scavenge-build), and each run works on a copy of them, so that every run
// scavenges the same events. Each run of a side of the scavenge runs in a process of its own
// (scavenge-sides.ts), which measures its memory.
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Annals } from '../src/index.js'
import { rawValue } from './appends.js'
import { inProcessOfItsOwn } from './forked.js'
import { encodeRawChunk } from './raw-chunks.js'
import { SIDES, type ScavengeTask } from './scavenge-sides.js'
import { CHUNK_EVENTS } from '../src/backend/level/chunk.js'
import { CHUNKS_PER_BATCH } from '../src/backend/level/scavenge.js'
import { BENCH_DIR, concurrently, eventMaker, freshDir, key8, rawLevel } from './lib.js'
import type { Timing, Workload } from './measure.js'
import type { Config } from './options.js'

const BASE = 'scavenge-base'
const RAW_BASE = 'scavenge-raw-base'
const RAW_CHUNKS_BASE = 'scavenge-raw-chunks-base'

/** The streams deleted: the first tenth of the shape's streams, so a tenth of the log's events. */
const deleted = (config: Config): number => Math.max(1, Math.round(config.shape.streams / 10))

/** Whether event `i` of the log belongs to a deleted stream (events go round the streams). */
const removed = (config: Config, i: number): boolean => i % config.shape.streams < deleted(config)

/**
 * Writes the log of `config.sizes.scavengeLog` events to annals, to raw classic-level with one
 * key per event, and to raw classic-level with one key per {@link CHUNK_EVENTS} consecutive
 * events (as annals's chunks: see {@link encodeRawChunk}).
 */
export async function buildScavengeLog (config: Config): Promise<void> {
  const events = config.sizes.scavengeLog
  const event = eventMaker(config.shape)
  const db = await open(freshDir(BASE))
  const raw = await rawLevel(RAW_BASE)
  const chunked = await rawLevel(RAW_CHUNKS_BASE)
  try {
    let chunk: Buffer[] = []
    for (let i = 0; i < events; i += 1000) {
      const batch = raw.batch()
      const chunks = chunked.batch()
      const appends: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(i + 1000, events); j++) {
        const e = event(j)
        appends.push(db.append(e.stream, { type: e.type, data: e.data }))
        const value = rawValue(e, j)
        batch.put(key8(j), value)
        chunk.push(value)
        if (chunk.length === CHUNK_EVENTS || j === events - 1) {
          chunks.put(key8(j + 1 - chunk.length), encodeRawChunk(chunk))
          chunk = []
        }
      }
      await Promise.all([...appends, batch.write(), chunks.write()])
    }
  } finally {
    await db.close()
    await raw.close()
    await chunked.close()
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

/** Positions a scavenge reads per batch of writes: as many chunks of the most events a chunk holds. */
const BATCH_POSITIONS = CHUNKS_PER_BATCH * CHUNK_EVENTS

/**
 * A side of the scavenge (scavenge-sides.ts), run on a copy of `base` in a process of its own;
 * checks that it removed the `expected` events.
 */
function side (config: Config, base: string, name: string, expected: number): () => Promise<Timing> {
  return async () => {
    const { dir, remove } = copy(base, `scavenge-${name}`)
    try {
      const task: ScavengeTask = { dir, streams: config.shape.streams, deleted: deleted(config), events: config.sizes.scavengeLog, batchPositions: BATCH_POSITIONS, chunksPerBatch: CHUNKS_PER_BATCH }
      const timing = await inProcessOfItsOwn(SIDES, name, task)
      if (timing.events !== expected) throw new Error(`${name}: removed ${timing.events} events where ${expected} were expected`)
      return timing
    } finally {
      remove()
    }
  }
}

/** Appends `count` events, 64 concurrent, to streams that were not deleted; resolves with how long they took. */
async function appends (config: Config, db: Annals, count: number): Promise<Timing> {
  const event = eventMaker(config.shape)
  const one = async (i: number): Promise<void> => {
    const e = event(config.sizes.scavengeLog + i)
    // the streams of the deleted tenth are left alone: they are what is being scavenged
    const stream = removed(config, config.sizes.scavengeLog + i) ? 'live' : e.stream
    await db.append(stream, { type: e.type, data: e.data })
  }
  const start = performance.now()
  await concurrently(count, 64, one)
  return { events: count, ms: performance.now() - start }
}

/**
 * The same appends as {@link appends}, made while a scavenge runs: they start once the scavenge
 * has written its first batch, and the scavenge is awaited after them (its time is not theirs).
 * Says so on standard error when the scavenge ended before the appends did: some were then
 * made alone, and the figure flatters the appends (on a small log, as --tiny's).
 */
async function appendsDuringScavenge (config: Config, db: Annals, count: number): Promise<Timing> {
  let underway!: () => void
  const started = new Promise<void>(resolve => { underway = resolve })
  let over = false
  const scavenge = db.scavenge({ onProgress: () => underway() }).finally(() => { over = true })
  await Promise.race([started, scavenge])
  const timing = await appends(config, db, count)
  const overlapped = !over
  await scavenge
  if (!overlapped) process.stderr.write(`note: the scavenge ended before the ${count} appends started during it did\n`)
  return timing
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
      raw: `raw classic-level deleting the same events' keys, batches of ${fmt(BATCH_POSITIONS)} positions`,
      target: 0.5,
      maxRssMB: 200,
      annals: side(config, BASE, 'scavenge', expected),
      baseline: side(config, RAW_BASE, 'raw-deletes', expected),
      also: [
        { raw: 'the same deletes, then a compaction of the range they span (the whole log)', run: side(config, RAW_BASE, 'raw-deletes-compacted', expected) },
        { raw: `the same events in values of ${CHUNK_EVENTS}, each rewritten without the removed ones, then a compaction of the log`, run: side(config, RAW_CHUNKS_BASE, 'raw-chunks', expected) }
      ]
    }, {
      name: `append ${fmt(count)} events, 1 per call, 64 concurrent, while a scavenge of ${fmt(expected)} events runs`,
      unit: 'events',
      logEvents: events,
      raw: 'annals, the same appends alone (on the same log, deleted streams not scavenged)',
      target: 0.5,
      annals: async () => await onDeleted(config, 'scavenge-appends', async db => await appendsDuringScavenge(config, db, count)),
      baseline: async () => await onDeleted(config, 'scavenge-appends', async db => await appends(config, db, count))
    }],
    close: async () => {
      for (const name of [BASE, RAW_BASE, RAW_CHUNKS_BASE]) rmSync(join(BENCH_DIR, name), { recursive: true, force: true })
    }
  }
}
