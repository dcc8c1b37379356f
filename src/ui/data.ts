// What the pages show, read through the public API of the database and the command line's
// helpers: the overview (as `annals info`), the rate of appends, streams, events.
import type { Aggregate } from '../aggregates/define.js'
import { gather, progressOf, type Info } from '../cli/info.js'
import { eventJson } from '../cli/output.js'
import { personalFieldsOf } from '../cli/personal-fields.js'
import { streamPage } from '../cli/streams.js'
import type { RecordedEvent } from '../log/types.js'
import type { ProjectionDefinition } from '../projections/definition.js'
import type { Projection } from '../projections/handle.js'
import type { Annals } from '../store/annals.js'
import type { EventRow, EventsPage, Head, Json, Overview, Progress, ProjectionProgress, Rate, StreamsPage } from './api-types.js'

/** A projection this page runs: given with --module, registered with `db.project`. */
export interface RunningView {
  definition: ProjectionDefinition
  projection: Projection
}

/** Logs up to this many events have every commit time read for the rate chart; longer ones are sampled. */
const READ_ALL_TIMES = 20_000
/** Positions sampled for the rate chart of a longer log. */
const SAMPLES = 2_000

/**
 * The reads behind the pages, on one open database. `location` names the folder on the page;
 * `aggregates` and `views` are the user's definitions the time slider offers, by name.
 */
export class Reader {
  constructor (
    readonly db: Annals,
    readonly location: string,
    readonly aggregates: ReadonlyMap<string, Aggregate>,
    readonly views: ReadonlyMap<string, RunningView>
  ) {}

  /** The last event of the log. */
  async head (): Promise<Head> {
    for await (const e of this.db.readAll({ backwards: true, limit: 1 })) return { position: e.position, time: e.time }
    return { position: -1, time: null }
  }

  /** The event at `position`, if there is one. */
  async eventAt (position: number): Promise<RecordedEvent | undefined> {
    if (position < 0) return undefined
    for await (const e of this.db.readAll({ from: position, limit: 1 })) return e.position === position ? e : undefined
    return undefined
  }

  /** The overview page: `annals info`'s figures, projections this page runs with their live status. */
  async overview (): Promise<Overview> {
    const info = await gather(this.db, this.location)
    return {
      ...info,
      projections: this.#projections(info.projections),
      aggregates: [...this.aggregates.keys()],
      views: [...this.views.keys()]
    }
  }

  /** Where the durable subscriptions and projections stand now. */
  async progress (): Promise<Progress> {
    const { subscriptions, projections } = await progressOf(this.db)
    return { head: await this.head(), subscriptions, projections: this.#projections(projections) }
  }

  /** Stored projections, with the live status of those this page runs. */
  #projections (stored: Info['projections']): ProjectionProgress[] {
    const out: ProjectionProgress[] = stored.map(p => ({ ...p, running: false }))
    for (const [name, { definition, projection }] of this.views) {
      const { position, lag, state } = projection.status()
      const live = { name, version: definition.version, position, lag, state, running: true }
      const i = out.findIndex(p => p.name === name)
      if (i < 0) out.push(live)
      else out[i] = live
    }
    return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  }

  /**
   * Events appended per second over the log's life, in `buckets` buckets of equal length. Every
   * commit time is read for a log of up to 20,000 events; a longer log is sampled at 2,000
   * positions, the events between two samples spread evenly over the time between them.
   */
  async rate (buckets: number): Promise<Rate> {
    const head = await this.head()
    if (head.position < 0) return { start: Date.now(), step: 1000, perSecond: [], sampled: false }
    const events = head.position + 1
    const sampled = events > READ_ALL_TIMES
    const samples: Array<[position: number, time: number]> = []
    if (!sampled) {
      for await (const e of this.db.readAll({ to: head.position })) samples.push([e.position, e.time])
    } else {
      for (let i = 0; i < SAMPLES; i++) {
        const e = await this.eventAt(Math.round(i * head.position / (SAMPLES - 1)))
        if (e !== undefined) samples.push([e.position, e.time])
      }
    }
    const start = samples[0]![1]
    const span = samples.at(-1)![1] - start + 1
    const step = Math.max(10, Math.ceil(span / buckets))
    const counts = new Array<number>(Math.ceil(span / step)).fill(0)
    const add = (time: number, n: number): void => { counts[Math.min(counts.length - 1, Math.floor((time - start) / step))]! += n }
    add(start, 1)
    for (let i = 1; i < samples.length; i++) {
      const [p0, t0] = samples[i - 1]!
      const [p1, t1] = samples[i]!
      const n = p1 - p0
      if (!sampled || t1 === t0 || n === 1) {
        add(t1, n)
        continue
      }
      // n events between t0 (exclusive) and t1: spread over the buckets in between
      for (let k = 1; k <= n; k++) add(t0 + (t1 - t0) * k / n, 1)
    }
    return { start, step, perSecond: counts.map(c => c * 1000 / step), sampled }
  }

  /** A page of the streams whose name starts with `prefix`, after the stream `after`. */
  async streams (prefix: string, after: string | undefined, limit: number): Promise<StreamsPage> {
    return await streamPage(this.db, { prefix, after, limit })
  }

  /** A page of one stream's events, from revision `from` (forwards, or backwards). */
  async streamEvents (stream: string, from: number | undefined, limit: number, backwards: boolean): Promise<EventsPage> {
    const events = await this.db.readStream(stream, { from, limit: limit + 1, backwards }).toArray()
    return { events: await this.rows(events.slice(0, limit)), more: events.length > limit }
  }

  /** Events of the log from position `from` to `to` (inclusive; backwards, `from` is the highest), at most `limit`. */
  async logEvents (from: number | undefined, to: number | undefined, limit: number, backwards: boolean): Promise<EventsPage> {
    const events = await this.db.readAll({ from, to, limit: limit + 1, backwards }).toArray()
    return { events: await this.rows(events.slice(0, limit)), more: events.length > limit }
  }

  /** Events as the page shows them: values tagged as JSON, personal fields named. */
  async rows (events: readonly RecordedEvent[]): Promise<EventRow[]> {
    const personal = await personalFieldsOf(this.db, events.map(e => e.position))
    return events.map((e, i) => eventRow(e, personal[i]))
  }
}

function eventRow (e: RecordedEvent, personal: Record<string, string> | undefined): EventRow {
  const row = eventJson(e) as Omit<EventRow, 'data' | 'metadata'> & { data: Json, metadata: Json }
  return personal === undefined ? row : { ...row, personal }
}
