// Workloads of the log, each beside raw classic-level doing the same I/O in the same run:
// 8-byte big-endian keys, msgpackr values, the same events.
import { pack, unpack } from 'msgpackr'
import { open, type Annals } from '../src/index.js'
import { concurrently, freshDir, key8, rawLevel, sampleEvent } from './lib.js'

export interface Sizes {
  /** events per append workload */
  events: number
  /** streams they spread over */
  streams: number
  /** events of awaited one-at-a-time workloads (slow by nature) */
  awaited: number
  /** events of awaited sync puts (one fsync each) */
  syncAwaited: number
  /** events of the one stream read back */
  streamEvents: number
}

/** One measurement: how many events, in how many ms. */
export interface Timing {
  events: number
  ms: number
  /** the median of single operations, when the workload times each: rates then come from it */
  medianMs?: number
}

/** A workload measured on annals and on raw classic-level. */
export interface Workload {
  name: string
  /** the raw operation it is compared with */
  raw: string
  /** minimum ratio annals/raw the issue asks for, if any */
  target?: number
  /** most ms the median operation of annals may take, if the issue asks so */
  maxMs?: number
  annals: () => Promise<Timing>
  baseline: () => Promise<Timing>
}

async function annalsDb (name: string, sync = false): Promise<Annals> {
  return await open(freshDir(name), { sync })
}

/** An event as the raw baseline stores it: a msgpack map. */
export function rawValue (i: number, streams: number, position: number): Buffer {
  const e = sampleEvent(i, streams)
  return pack({ stream: e.stream, type: e.type, data: e.data, position, time: Date.now() })
}

async function timed (events: number, fn: () => Promise<void>): Promise<Timing> {
  const start = performance.now()
  await fn()
  return { events, ms: performance.now() - start }
}

/** A measurement of `events` events written by `body` on a fresh annals database. */
function onAnnals (name: string, events: number, sync: boolean, body: (db: Annals) => Promise<void>): () => Promise<Timing> {
  return async () => {
    const db = await annalsDb(name, sync)
    try {
      return await timed(events, async () => { await body(db) })
    } finally { await db.close() }
  }
}

/** A measurement of `events` events written by `body` on a fresh raw classic-level database. */
function onRaw (name: string, events: number, body: (raw: Awaited<ReturnType<typeof rawLevel>>) => Promise<void>): () => Promise<Timing> {
  return async () => {
    const raw = await rawLevel(name)
    try {
      return await timed(events, async () => { await body(raw) })
    } finally { await raw.close() }
  }
}

/** The append workloads. */
export function appendWorkloads (s: Sizes): Workload[] {
  const appendOne = async (db: Annals, i: number): Promise<unknown> => {
    const e = sampleEvent(i, s.streams)
    return await db.append(e.stream, { type: e.type, data: e.data })
  }
  const awaited = (n: number) => async (db: Annals): Promise<void> => {
    for (let i = 0; i < n; i++) await appendOne(db, i)
  }
  const concurrent = (n: number) => async (db: Annals): Promise<void> => {
    await concurrently(n, 64, async i => await appendOne(db, i))
  }
  const rawBatch100 = onRaw('raw-batch', s.events, async raw => {
    for (let i = 0; i < s.events; i += 100) {
      const batch = raw.batch()
      for (let j = i; j < Math.min(i + 100, s.events); j++) batch.put(key8(j), rawValue(j, s.streams, j))
      await batch.write()
    }
  })
  const rawPuts = (n: number, sync: boolean) => onRaw(sync ? 'raw-sync-put' : 'raw-put', n, async raw => {
    for (let i = 0; i < n; i++) await raw.put(key8(i), rawValue(i, s.streams, i), sync ? { sync: true } : {})
  })
  return [
    {
      name: 'append 1 event, awaited one at a time',
      raw: 'awaited put',
      target: 0.7,
      annals: onAnnals('a-awaited', s.awaited, false, awaited(s.awaited)),
      baseline: rawPuts(s.awaited, false)
    },
    {
      name: 'append 1 event, 64 concurrent callers',
      raw: 'batch of 100',
      target: 0.6,
      annals: onAnnals('a-concurrent', s.events, false, concurrent(s.events)),
      baseline: rawBatch100
    },
    {
      name: 'append 100 events per call',
      raw: 'batch of 100',
      target: 0.5,
      annals: onAnnals('a-hundred', s.events, false, async db => {
        for (let i = 0; i < s.events; i += 100) {
          const events = []
          for (let j = i; j < Math.min(i + 100, s.events); j++) {
            const e = sampleEvent(j, s.streams)
            events.push({ type: e.type, data: e.data })
          }
          await db.append(sampleEvent(i / 100, s.streams).stream, events)
        }
      }),
      baseline: rawBatch100
    },
    {
      name: 'append 1 event, 64 concurrent, sync',
      raw: 'awaited put, sync',
      target: 5,
      annals: onAnnals('a-concurrent-sync', s.syncAwaited * 10, true, concurrent(s.syncAwaited * 10)),
      baseline: rawPuts(s.syncAwaited, true)
    },
    {
      name: 'append 1 event, awaited, sync',
      raw: 'awaited put, sync',
      annals: onAnnals('a-awaited-sync', s.syncAwaited, true, awaited(s.syncAwaited)),
      baseline: rawPuts(s.syncAwaited, true)
    }
  ]
}

/**
 * The read workloads, on one database of `events` events over `streams` streams, where one
 * stream ('big') holds `streamEvents` of them spread evenly through the log.
 */
export async function readWorkloads (s: Sizes): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const db = await annalsDb('r-annals')
  const raw = await rawLevel('r-raw')
  const every = Math.max(1, Math.floor(s.events / s.streamEvents))
  for (let i = 0; i < s.events; i += 100) {
    const batch = raw.batch()
    const appends: Array<Promise<unknown>> = []
    for (let j = i; j < Math.min(i + 100, s.events); j++) {
      const e = sampleEvent(j, s.streams)
      const stream = j % every === 0 ? 'big' : e.stream
      appends.push(db.append(stream, { type: e.type, data: e.data }))
      batch.put(key8(j), rawValue(j, s.streams, j))
    }
    await Promise.all([...appends, batch.write()])
  }
  const rawReplay = async (): Promise<Timing> => {
    let n = 0
    return await timed(s.events, async () => {
      const it = raw.iterator()
      try {
        for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
          for (const [, value] of entries) if (unpack(value) !== undefined) n++
        }
      } finally { await it.close() }
      if (n !== s.events) throw new Error(`raw replay read ${n} of ${s.events}`)
    })
  }
  return {
    workloads: [
      {
        name: 'replay the whole log (readAll)',
        raw: 'iterate and decode',
        target: 0.7,
        annals: async () => {
          let n = 0
          const t = await timed(s.events, async () => {
            for await (const e of db.readAll()) if (e.position >= 0) n++
          })
          if (n !== s.events) throw new Error(`replay read ${n} of ${s.events}`)
          return t
        },
        baseline: rawReplay
      },
      {
        name: `read one stream of ${s.streamEvents} events`,
        raw: 'iterate and decode',
        target: 0.5,
        annals: async () => {
          let n = 0
          const t = await timed(0, async () => {
            for await (const e of db.readStream('big')) if (e.revision >= 0) n++
          })
          return { events: n, ms: t.ms }
        },
        baseline: rawReplay
      }
    ],
    close: async () => { await db.close(); await raw.close() }
  }
}
