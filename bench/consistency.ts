// Consistency beyond one stream (issue 15). Conditional appends from 64 concurrent callers, each
// with a tag query (a claim that must be unique: the store checks the tag index in the writer),
// beside the same appends without a condition; and reading a 1% category of a large log
// (`readAll({ streams: { prefix } })`, served from the streams' own indexes) beside filtering the
// whole log for the same events in JavaScript, which is what a store without categories must do.
// The baseline of both is annals itself without the feature measured: the targets are
// ratios to it. The log of the category reads is built beforehand by another process.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Annals, type QueryItem } from '../src/index.js'
import { BENCH_DIR, concurrently, eventMaker, freshDir, timed, timedRead } from './lib.js'
import type { Timing, Workload } from './measure.js'
import type { Config } from './options.js'
import { counted } from './reads.js'

/** The streams of the category: a handful, among the 1,000 of the rest of the log. */
const CATEGORY_STREAMS = 5
/** One event in this many is in the category: 1%. */
const CATEGORY_EVERY = 100
const PREFIX = 'order-'
const TAG = 'region:north'

/** The log of the category reads: as large as the scale curve goes, 1,000,000 events at most. */
export function categoryLogEvents (config: Config): number {
  return Math.min(config.curve[config.curve.length - 1]!, 1_000_000)
}

/** A measurement of `events` appends made by `body` on a fresh database, removed after. */
function onAnnals (name: string, events: number, body: (db: Annals) => Promise<void>): () => Promise<Timing> {
  return async () => {
    const dir = freshDir(name)
    const db = await open(dir)
    try {
      return await timed(events, async () => { await body(db) })
    } finally {
      await db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Conditional appends (a unique claim by tag, and read-then-append), beside the same appends without a condition. */
export function conditionalWorkloads (config: Config): Workload[] {
  const event = eventMaker(config.shape)
  const n = config.sizes.appends
  // every event carries a tag of its own (the photo it adds) and one of its user: the tag index
  // is written on both sides
  const tagged = (i: number): { stream: string, event: { type: string, data: Record<string, unknown>, tags: string[] } } => {
    const e = event(i)
    return { stream: e.stream, event: { type: e.type, data: e.data, tags: [`photo:${i}`, `user:${e.stream}`] } }
  }
  const claim = (i: number): QueryItem[] => [{ types: ['PhotoAdded'], tags: [`photo:${i}`] }]
  const plain = onAnnals('c-plain', n, async db => {
    await concurrently(n, 64, async i => { const { stream, event } = tagged(i); await db.append(stream, event) })
  })
  return [
    {
      name: 'append 1 event with a condition on a tag query, 64 concurrent callers',
      unit: 'events',
      raw: 'annals, the same appends without a condition',
      // issue 15: at least half as fast as plain appends
      target: 0.5,
      annals: onAnnals('c-condition', n, async db => {
        await concurrently(n, 64, async i => {
          const { stream, event } = tagged(i)
          await db.append(stream, event, { condition: { failIfEventsMatch: claim(i) } })
        })
      }),
      baseline: plain
    },
    {
      name: 'read by a tag query, then append on the condition that nothing matching came since, 64 concurrent callers',
      unit: 'events',
      raw: 'annals, the same appends without a condition',
      annals: onAnnals('c-decide', n, async db => {
        await concurrently(n, 64, async i => {
          const { stream, event } = tagged(i)
          const query = claim(i)
          const { events, head } = await db.read({ query })
          if (events.length > 0) throw new Error(`photo ${i} is already there`)
          await db.append(stream, event, { condition: { failIfEventsMatch: query, after: head } })
        })
      }),
      baseline: plain
    }
  ]
}

const categoryDir = (events: number): string => `category-${events}`

/**
 * Writes the log of the category reads: `events` events of the usual shape over 1,000 streams,
 * of which every hundredth goes to one of a handful of streams `order-0`… (the category), tagged.
 */
export async function buildCategoryLog (config: Config, events: number): Promise<void> {
  const event = eventMaker(config.shape)
  const db = await open(freshDir(categoryDir(events)))
  try {
    for (let i = 0; i < events; i += 1000) {
      const appends: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(i + 1000, events); j++) {
        const e = event(j)
        const inCategory = j % CATEGORY_EVERY === 0
        const stream = inCategory ? `${PREFIX}${(j / CATEGORY_EVERY) % CATEGORY_STREAMS}` : e.stream
        appends.push(db.append(stream, { type: e.type, data: e.data, ...(inCategory ? { tags: [TAG] } : {}) }))
      }
      await Promise.all(appends)
    }
  } finally {
    await db.close()
  }
}

/** Reads of the category, by its streams and by its tag, beside filtering the whole log for it. */
export async function categoryWorkloads (_: Config, events: number): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const dir = join(BENCH_DIR, categoryDir(events))
  const count = Math.ceil(events / CATEGORY_EVERY)
  const reading = (read: (db: Annals) => Promise<number>) => async (): Promise<Timing> => {
    const db = await open(dir)
    try {
      return await timedRead(count, async () => await read(db))
    } finally { await db.close() }
  }
  const filtered = reading(async db => {
    let n = 0
    for await (const e of db.readAll()) if (e.stream.startsWith(PREFIX)) n++
    return n
  })
  const size = `${count.toLocaleString('en-US')} of ${events.toLocaleString('en-US')} events`
  return {
    workloads: [
      {
        name: `read a 1% category (${size}, ${CATEGORY_STREAMS} streams): readAll({ streams: { prefix } })`,
        logEvents: events,
        unit: 'events',
        raw: 'annals, readAll() filtered in JavaScript',
        // issue 15: at least 20 times as fast as filtering the whole log
        target: 20,
        annals: reading(async db => await counted(db.readAll({ streams: { prefix: PREFIX } }))),
        baseline: filtered
      },
      {
        name: `read the same 1% by its tag: readAll({ tags })`,
        logEvents: events,
        unit: 'events',
        raw: 'annals, readAll() filtered in JavaScript',
        annals: reading(async db => await counted(db.readAll({ tags: [TAG] }))),
        baseline: filtered
      }
    ],
    close: async () => { rmSync(dir, { recursive: true, force: true }) }
  }
}
