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
}

/** A workload measured on annals and on raw classic-level. */
export interface Workload {
  name: string
  /** the raw operation it is compared with */
  raw: string
  /** minimum ratio annals/raw the issue asks for, if any */
  target?: number
  annals: () => Promise<Timing>
  baseline: () => Promise<Timing>
}

async function annalsDb (name: string, sync = false): Promise<Annals> {
  return await open(freshDir(name), { sync })
}

function rawValue (i: number, streams: number, position: number): Buffer {
  const e = sampleEvent(i, streams)
  return pack({ stream: e.stream, type: e.type, data: e.data, position, time: Date.now() })
}

async function timed (events: number, fn: () => Promise<void>): Promise<Timing> {
  const start = performance.now()
  await fn()
  return { events, ms: performance.now() - start }
}

/** The append workloads. */
export function appendWorkloads (s: Sizes): Workload[] {
  const rawBatch100 = async (): Promise<Timing> => {
    const raw = await rawLevel('raw-batch')
    try {
      return await timed(s.events, async () => {
        for (let i = 0; i < s.events; i += 100) {
          const batch = raw.batch()
          for (let j = i; j < Math.min(i + 100, s.events); j++) batch.put(key8(j), rawValue(j, s.streams, j))
          await batch.write()
        }
      })
    } finally { await raw.close() }
  }
  const rawSyncPut = async (): Promise<Timing> => {
    const raw = await rawLevel('raw-sync-put')
    try {
      return await timed(s.syncAwaited, async () => {
        for (let i = 0; i < s.syncAwaited; i++) await raw.put(key8(i), rawValue(i, s.streams, i), { sync: true })
      })
    } finally { await raw.close() }
  }
  return [
    {
      name: 'append 1 event, awaited one at a time',
      raw: 'awaited put',
      target: 0.7,
      annals: async () => {
        const db = await annalsDb('a-awaited')
        try {
          return await timed(s.awaited, async () => {
            for (let i = 0; i < s.awaited; i++) {
              const e = sampleEvent(i, s.streams)
              await db.append(e.stream, { type: e.type, data: e.data })
            }
          })
        } finally { await db.close() }
      },
      baseline: async () => {
        const raw = await rawLevel('raw-put')
        try {
          return await timed(s.awaited, async () => {
            for (let i = 0; i < s.awaited; i++) await raw.put(key8(i), rawValue(i, s.streams, i))
          })
        } finally { await raw.close() }
      }
    },
    {
      name: 'append 1 event, 64 concurrent callers',
      raw: 'batch of 100',
      target: 0.6,
      annals: async () => {
        const db = await annalsDb('a-concurrent')
        try {
          return await timed(s.events, async () => {
            await concurrently(s.events, 64, async i => {
              const e = sampleEvent(i, s.streams)
              await db.append(e.stream, { type: e.type, data: e.data })
            })
          })
        } finally { await db.close() }
      },
      baseline: rawBatch100
    },
    {
      name: 'append 100 events per call',
      raw: 'batch of 100',
      target: 0.5,
      annals: async () => {
        const db = await annalsDb('a-hundred')
        try {
          return await timed(s.events, async () => {
            for (let i = 0; i < s.events; i += 100) {
              const stream = sampleEvent(i / 100, s.streams).stream
              const events = []
              for (let j = i; j < Math.min(i + 100, s.events); j++) {
                const e = sampleEvent(j, s.streams)
                events.push({ type: e.type, data: e.data })
              }
              await db.append(stream, events)
            }
          })
        } finally { await db.close() }
      },
      baseline: rawBatch100
    },
    {
      name: 'append 1 event, 64 concurrent, sync',
      raw: 'awaited put, sync',
      target: 5,
      annals: async () => {
        const db = await annalsDb('a-concurrent-sync', true)
        const n = s.syncAwaited * 10
        try {
          return await timed(n, async () => {
            await concurrently(n, 64, async i => {
              const e = sampleEvent(i, s.streams)
              await db.append(e.stream, { type: e.type, data: e.data })
            })
          })
        } finally { await db.close() }
      },
      baseline: rawSyncPut
    },
    {
      name: 'append 1 event, awaited, sync',
      raw: 'awaited put, sync',
      annals: async () => {
        const db = await annalsDb('a-awaited-sync', true)
        try {
          return await timed(s.syncAwaited, async () => {
            for (let i = 0; i < s.syncAwaited; i++) {
              const e = sampleEvent(i, s.streams)
              await db.append(e.stream, { type: e.type, data: e.data })
            }
          })
        } finally { await db.close() }
      },
      baseline: rawSyncPut
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
