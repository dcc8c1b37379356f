// The shapes of what the server of `annals ui` answers, shared by the server (src/ui/*.ts) and
// the page (src/ui/client/*.ts). Values of the user's (event data, states, documents) travel as
// JSON with the tags of src/cli/json-value.ts ({"$date": ...}, {"$bytes": ...}, ...).

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** The last event of the log: position -1 (and time null) when the log is empty. */
export interface Head {
  position: number
  time: number | null
}

/** An event as the page shows it: a RecordedEvent, and which of its fields are personal. */
export interface EventRow {
  id: string
  stream: string
  revision: number
  position: number
  type: string
  /** the version of its type it is read as */
  version: number
  data: Json
  metadata: Json
  time: number
  /** personal fields of a shredded subject: read as null */
  redacted?: string[]
  /** dotted path of each personal field -> its data subject (shredded ones included) */
  personal?: Record<string, string>
}

/** The overview page: what `annals info` says, and what this page can show. */
export interface Overview {
  location: string
  events: number
  streams: number
  firstTime: number | null
  lastTime: number | null
  sizeBytes: number
  subscriptions: SubscriptionProgress[]
  projections: ProjectionProgress[]
  snapshots: Array<{ aggregate: string, version: number, count: number }>
  shreddedSubjects: number
  /** names of the aggregates given with --aggregate */
  aggregates: string[]
  /** names of the projections given with --module, whose views the slider shows */
  views: string[]
}

/** A durable subscription: the last position it handled (-1: none) and the events it has not. */
export interface SubscriptionProgress {
  name: string
  position: number
  lag: number
}

/** A projection: as stored, or live when this page runs it (given with --module). */
export interface ProjectionProgress {
  name: string
  version: number
  position: number
  lag: number
  /** stored: 'up to date' | 'behind' | 'rebuilding'; live: 'live' | 'catching-up' | 'rebuilding' | 'failed' */
  state: string
  /** whether this page runs it (then its state and lag are live) */
  running: boolean
}

/** Where the projections and durable subscriptions stand: sent again as they move. */
export interface Progress {
  head: Head
  subscriptions: SubscriptionProgress[]
  projections: ProjectionProgress[]
}

/** Appends over time: events per second in buckets of equal length, the first starting at `start`. */
export interface Rate {
  start: number
  /** length of a bucket, in ms */
  step: number
  perSecond: number[]
  /** true when the commit times were sampled (large logs), not all read */
  sampled: boolean
}

/** A stream in the listing. */
export interface StreamRow {
  stream: string
  revision: number
  position: number
  time: number
}

/** A page of the stream listing, and whether more streams follow. */
export interface StreamsPage {
  streams: StreamRow[]
  more: boolean
}

/** A page of events, of one stream or of the log. */
export interface EventsPage {
  events: EventRow[]
  /** whether events follow the last one of the page (in the order read) */
  more: boolean
}

/** The moment the slider points at: after the event at `position` (-1: before the first). */
export interface Moment {
  position: number
  /** commit time of the event at `position` */
  time: number | null
  head: Head
}

/** A change the replay command prints: `~ state.bytes: 0 → 2400000`. */
export interface ChangeRow {
  op: 'add' | 'remove' | 'set'
  /** as JavaScript writes it: state.photos["p-1"].title, or view["user-7"].bytes */
  path: string
  from?: Json
  to?: Json
}

/** The next event that changes what a panel shows, and what it changed. */
export interface NextChange {
  event: EventRow
  changes: ChangeRow[]
}

/** An aggregate's state at the slider's moment. */
export interface AggregateAt {
  aggregate: string
  stream: string
  /** as `db.load` says: -1 (and position -1) before the stream's first event */
  revision: number
  position: number
  /** commit time of the event at `revision` */
  time: number | null
  state: Json
  /** the stream's next event and what it changed; null at the end of the stream */
  next: NextChange | null
}

/** A view's documents at the slider's moment. */
export interface ViewAt {
  view: string
  /** the last position the view reflects */
  position: number
  docs: Array<{ key: string, doc: Json }>
  /** whether documents follow the last one shown */
  more: boolean
  /** the next event that changed the documents shown (up to the last key shown), and what it changed */
  next: NextChange | null
  /** how many later events the projection handles were looked through for it (200 at most) */
  looked: number
}

/** What the server sends on /api/live, by event name. */
export interface LiveMessages {
  /** events committed since the last message (the last 50 of them at most) */
  append: { head: Head, events: EventRow[], count: number }
  progress: Progress
}

/** An error answer. */
export interface ApiError {
  error: string
  code?: string
}
