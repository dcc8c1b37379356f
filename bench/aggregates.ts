// Workloads of aggregates. Loads and time travel are measured beside raw classic-level doing
// the same I/O in the same run: a reverse seek to the newest snapshot at or before the target,
// then a range read of the events after it, decoded and folded. Figures are per load, at the
// median of each run. The cost of snapshots on appends is measured annals against annals: the
// same command loop (load, then append at the loaded revision) with snapshots on and off.
import { pack, unpack } from 'msgpackr'
import { defineAggregate, open, type Annals } from '../src/index.js'
import { concurrently, freshDir, median, rawLevel, sampleEvent } from './lib.js'
import type { Timing, Workload } from './log.js'

export type AggregateSize = 'tiny' | 'quick' | 'full'

interface Album { photos: number, bytes: number, title: string }
const initial = (): Album => ({ photos: 0, bytes: 0, title: '' })
const evolve = (s: Album, e: { data: any }): Album => ({ photos: s.photos + 1, bytes: s.bytes + e.data.size, title: e.data.title }) // eslint-disable-line @typescript-eslint/no-explicit-any
const EVERY = 100
const Album = defineAggregate<Album>({ name: 'album', initial, evolve, snapshotEvery: EVERY })
const AlbumWithout = defineAggregate<Album>({ name: 'album', initial, evolve })

// Each stream goes half an interval past its last snapshot, as a stream does on average: a
// load reads a snapshot and folds 50 events. (At an exact multiple of 100 it folds none.)
const settings = {
  tiny: { short: 150, long: 2050, loads: 20, commands: 2000 },
  quick: { short: 1050, long: 100_050, loads: 300, commands: 20_000 },
  full: { short: 1050, long: 100_050, loads: 1000, commands: 100_000 }
}

/** A key of the raw side: tag, stream, 0x00, revision as 8 bytes. */
function rawKey (tag: string, stream: string, revision: number): Buffer {
  const key = Buffer.alloc(tag.length + Buffer.byteLength(stream) + 9)
  const at = key.write(tag) + key.write(stream, tag.length)
  key[at] = 0
  key.writeBigUInt64BE(BigInt(revision), at + 1)
  return key
}

/** A seeded sequence, so that annals and raw travel to the same revisions. */
function seeded (seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
}

async function timedLoads (count: number, load: (i: number) => Promise<unknown>): Promise<Timing> {
  const each: number[] = []
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const t = performance.now()
    await load(i)
    each.push(performance.now() - t)
  }
  return { events: count, ms: performance.now() - start, medianMs: median(each) }
}

/** The load and time-travel workloads, on one annals database and one raw one holding the same streams. */
export async function aggregateWorkloads (size: AggregateSize): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const s = settings[size]
  const dir = freshDir('g-annals')
  let db = await open(dir)
  const raw = await rawLevel('g-raw')
  for (const [stream, length] of [['short', s.short], ['long', s.long]] as const) {
    let state = initial()
    for (let i = 0; i < length; i += 100) {
      const events = Array.from({ length: Math.min(100, length - i) }, (_, j) => sampleEvent(i + j, 1000))
      await db.append(stream, events.map(e => ({ type: e.type, data: e.data })))
      const batch = raw.batch()
      events.forEach((e, j) => {
        const revision = i + j
        state = evolve(state, e)
        batch.put(rawKey('E', stream, revision), pack({ type: e.type, data: e.data, position: revision }))
        if ((revision + 1) % EVERY === 0) batch.put(rawKey('N', stream, revision), pack({ position: revision, state }))
      })
      await batch.write()
    }
  }
  // the first loads write the snapshots; a reopen makes sure they are all on disk
  await db.load(Album, 'short')
  await db.load(Album, 'long')
  await db.close()
  db = await open(dir)

  const rawLoad = async (stream: string, target: number): Promise<Album> => {
    const snapshots = raw.iterator({ gte: rawKey('N', stream, 0), lte: rawKey('N', stream, target), reverse: true, limit: 1 })
    const [found] = await snapshots.nextv(1)
    await snapshots.close()
    const snapshot = found === undefined ? undefined : unpack(found[1]) as { position: number, state: Album }
    let state = snapshot?.state ?? initial()
    const events = raw.iterator({ gte: rawKey('E', stream, snapshot === undefined ? 0 : snapshot.position + 1), lte: rawKey('E', stream, target) })
    try {
      for (let chunk = await events.nextv(1024); chunk.length > 0; chunk = await events.nextv(1024)) {
        for (const [, value] of chunk) state = evolve(state, unpack(value))
      }
    } finally { await events.close() }
    return state
  }
  const annalsLoads = (stream: string, length: number) => async () => await timedLoads(s.loads, async () => {
    const { revision } = await db.load(Album, stream)
    if (revision !== length - 1) throw new Error(`loaded revision ${revision} of ${stream}`)
  })
  const rawLoads = (stream: string, length: number) => async () => await timedLoads(s.loads, async () => {
    if ((await rawLoad(stream, length - 1)).photos !== length) throw new Error(`raw load of ${stream} is wrong`)
  })
  const travel = (load: (revision: number) => Promise<number>) => async () => {
    const next = seeded(7)
    return await timedLoads(s.loads, async () => {
      const revision = Math.floor(next() * s.long)
      if (await load(revision) !== revision + 1) throw new Error(`time travel to ${revision} is wrong`)
    })
  }
  const n = (x: number): string => x.toLocaleString('en-US')
  return {
    workloads: [
      {
        name: `load a stream of ${n(s.short)} events (snapshotEvery ${EVERY}), per load`,
        raw: 'seek snapshot, read the rest',
        annals: annalsLoads('short', s.short),
        baseline: rawLoads('short', s.short)
      },
      {
        name: `load a stream of ${n(s.long)} events (snapshotEvery ${EVERY}), per load`,
        raw: 'seek snapshot, read the rest',
        annals: annalsLoads('long', s.long),
        baseline: rawLoads('long', s.long)
      },
      {
        name: `load ${n(s.long)} events against ${n(s.short)}: flat in history (median times)`,
        raw: `annals, ${n(s.short)}-event stream`,
        target: 1 / 1.5,
        annals: annalsLoads('long', s.long),
        baseline: annalsLoads('short', s.short)
      },
      {
        name: `time travel to a random past revision of ${n(s.long)} events, per load`,
        raw: 'seek snapshot, read the rest',
        maxMs: 2,
        annals: travel(async revision => (await db.load(Album, 'long', { at: { revision } })).state.photos),
        baseline: travel(async revision => (await rawLoad('long', revision)).photos)
      },
      commandLoop(s.commands)
    ],
    close: async () => { await db.close(); await raw.close() }
  }
}

/**
 * The cost of snapshots on appends: 64 clients, each handling commands on streams of its own
 * (load the album, append an event at the loaded revision), with snapshots on against off.
 * Streams hold about 150 events each, so that loads without snapshots stay short too and the
 * comparison shows what snapshots cost (a seek per load, a snapshot written every 100
 * events) more than what they save.
 */
function commandLoop (commands: number): Workload {
  const clients = 64
  const streams = Math.max(clients, Math.round(commands / 150 / clients) * clients)
  const run = (withSnapshots: boolean) => async (): Promise<Timing> => {
    const db: Annals = await open(freshDir(withSnapshots ? 'g-commands-on' : 'g-commands-off'))
    const aggregate = withSnapshots ? Album : AlbumWithout
    try {
      const start = performance.now()
      let next = 0
      await concurrently(clients, clients, async client => {
        for (let k = 0; next < commands; k++) {
          const i = next++
          const stream = `album-${client + clients * (k % (streams / clients))}`
          const { revision } = await db.load(aggregate, stream)
          const e = sampleEvent(i, 1000)
          await db.append(stream, { type: e.type, data: e.data }, { expectedRevision: revision })
        }
      })
      return { events: commands, ms: performance.now() - start }
    } finally { await db.close() }
  }
  return {
    name: `append through load-then-append commands, snapshots on (${streams} streams)`,
    raw: 'annals, snapshots off',
    target: 0.9,
    annals: run(true),
    baseline: run(false)
  }
}
