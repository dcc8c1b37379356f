// Workloads of aggregates. Loads and time travel are measured beside raw classic-level doing
// the same I/O in the same run: a reverse seek to the newest snapshot at or before the target,
// then a range read of the events after it, decoded and folded (without snapshots: the whole
// stream). Figures are per load, at the median of each run. The cost of snapshots on appends is
// measured annals against annals: the same command loop (load, then append at the loaded
// revision) with snapshots on and off.
import { pack, unpack } from 'msgpackr'
import { defineAggregate, open, type Annals } from '../src/index.js'
import type { Config } from './options.js'
import { concurrently, eventMaker, freshDir, median, rawLevel, seeded, streamKey, type SampleEvent } from './lib.js'
import type { Timing, Workload } from './measure.js'

interface Album { photos: number, bytes: number, title: string }
const initial = (): Album => ({ photos: 0, bytes: 0, title: '' })
const evolve = (s: Album, e: { data: any }): Album => ({ photos: s.photos + 1, bytes: s.bytes + e.data.size, title: e.data.title }) // eslint-disable-line @typescript-eslint/no-explicit-any
const EVERY = 100
const Album = defineAggregate<Album>({ name: 'album', initial, evolve, snapshotEvery: EVERY })
const AlbumWithout = defineAggregate<Album>({ name: 'album', initial, evolve })

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
export async function aggregateWorkloads (config: Config): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const s = config.sizes
  const event = eventMaker(config.shape)
  const dir = freshDir('g-annals')
  let db = await open(dir)
  const raw = await rawLevel('g-raw')
  for (const [stream, length] of [['short', s.short], ['long', s.long]] as const) {
    let state = initial()
    for (let i = 0; i < length; i += 100) {
      const events = Array.from({ length: Math.min(100, length - i) }, (_, j) => event(i + j))
      await db.append(stream, events.map(e => ({ type: e.type, data: e.data })))
      const batch = raw.batch()
      events.forEach((e, j) => {
        const revision = i + j
        state = evolve(state, e)
        batch.put(streamKey('E', stream, revision), pack({ type: e.type, data: e.data, position: revision }))
        if ((revision + 1) % EVERY === 0) batch.put(streamKey('N', stream, revision), pack({ position: revision, state }))
      })
      await batch.write()
    }
  }
  // the first loads write the snapshots; a reopen makes sure they are all on disk
  await db.load(Album, 'short')
  await db.load(Album, 'long')
  await db.close()
  db = await open(dir)

  /** The raw side of a load: the newest snapshot at or before `target` (if `snapshots`), then the events after it. */
  const rawLoad = async (stream: string, target: number, snapshots = true): Promise<Album> => {
    let snapshot: { position: number, state: Album } | undefined
    if (snapshots) {
      const it = raw.iterator({ gte: streamKey('N', stream, 0), lte: streamKey('N', stream, target), reverse: true, limit: 1 })
      const [found] = await it.nextv(1)
      await it.close()
      if (found !== undefined) snapshot = unpack(found[1])
    }
    let state = snapshot?.state ?? initial()
    const events = raw.iterator({ gte: streamKey('E', stream, snapshot === undefined ? 0 : snapshot.position + 1), lte: streamKey('E', stream, target) })
    try {
      for (let chunk = await events.nextv(1024); chunk.length > 0; chunk = await events.nextv(1024)) {
        for (const [, value] of chunk) state = evolve(state, unpack(value))
      }
    } finally { await events.close() }
    return state
  }
  const loads = (count: number, stream: string, length: number, load: () => Promise<{ photos: number }>) => async () => await timedLoads(count, async () => {
    if ((await load()).photos !== length) throw new Error(`a load of ${stream} is wrong`)
  })
  const annalsLoads = (stream: string, length: number, aggregate = Album, count = s.loads) =>
    loads(count, stream, length, async () => (await db.load(aggregate, stream)).state)
  const rawLoads = (stream: string, length: number, snapshots = true, count = s.loads) =>
    loads(count, stream, length, async () => await rawLoad(stream, length - 1, snapshots))
  const travel = (load: (revision: number) => Promise<number>) => async () => {
    const next = seeded(7)
    return await timedLoads(s.loads, async () => {
      const revision = Math.floor(next() * s.long)
      if (await load(revision) !== revision + 1) throw new Error(`time travel to ${revision} is wrong`)
    })
  }
  const n = (x: number): string => x.toLocaleString('en-US')
  const perLoad = { unit: 'ops' as const, raw: 'seek snapshot, read the rest' }
  return {
    workloads: [
      {
        ...perLoad,
        name: `load a stream of ${n(s.short)} events (snapshotEvery ${EVERY})`,
        annals: annalsLoads('short', s.short),
        baseline: rawLoads('short', s.short)
      },
      {
        ...perLoad,
        name: `load a stream of ${n(s.long)} events (snapshotEvery ${EVERY})`,
        annals: annalsLoads('long', s.long),
        baseline: rawLoads('long', s.long)
      },
      {
        unit: 'ops',
        name: `load ${n(s.long)} events against ${n(s.short)}: flat in history`,
        raw: `annals, ${n(s.short)}-event stream`,
        target: 1 / 1.5,
        annals: annalsLoads('long', s.long),
        baseline: annalsLoads('short', s.short)
      },
      {
        unit: 'ops',
        name: `load a stream of ${n(s.short)} events without snapshots`,
        raw: 'read the stream, fold',
        annals: annalsLoads('short', s.short, AlbumWithout, s.loadsWithout),
        baseline: rawLoads('short', s.short, false, s.loadsWithout)
      },
      {
        unit: 'ops',
        name: `load a stream of ${n(s.long)} events without snapshots`,
        raw: 'read the stream, fold',
        annals: annalsLoads('long', s.long, AlbumWithout, s.longLoadsWithout),
        baseline: rawLoads('long', s.long, false, s.longLoadsWithout)
      },
      {
        ...perLoad,
        name: `time travel to a random past revision of ${n(s.long)} events`,
        maxMs: 2,
        annals: travel(async revision => (await db.load(Album, 'long', { at: { revision } })).state.photos),
        baseline: travel(async revision => (await rawLoad('long', revision)).photos)
      },
      commandLoop(s.commands, event)
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
function commandLoop (commands: number, event: (i: number) => SampleEvent): Workload {
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
          const e = event(i)
          await db.append(stream, { type: e.type, data: e.data }, { expectedRevision: revision })
        }
      })
      return { events: commands, ms: performance.now() - start }
    } finally { await db.close() }
  }
  return {
    name: `append through load-then-append commands, snapshots on (${streams} streams)`,
    unit: 'events',
    raw: 'annals, snapshots off',
    target: 0.9,
    annals: run(true),
    baseline: run(false)
  }
}
