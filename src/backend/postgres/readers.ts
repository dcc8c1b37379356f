// Reading the PostgreSQL backend: the log by position, one stream by revision, and the events a
// filter keeps (types, a query's tags through the tag index, a category of streams), forwards
// or backwards. A read goes a page at a time, each page a query from where the last ended
// (keyset paging): memory stays flat, and no connection is held between pages, so a consumer
// that appends while it reads (a subscription's handler) never waits for a connection its own
// read holds. The next page is asked for while the caller decodes this one.
//
// The first page of a read learns where the log (or the stream) ends in the same statement,
// so a read sees every event committed before it began, by any process. Every row's checksum
// is verified; where a read takes every position (every revision of a stream) between its
// bounds, one missing is ANNALS_CORRUPT naming it, never a silent gap, unless a scavenge removed
// it (the `removed` table's runs of positions; a stream's `kept_from`). Events the rules of
// streams' lives hide (rules.ts) are left out of what a read hands on.
import { AnnalsError } from '../../errors.js'
import type { RecordedEvent } from '../../log/types.js'
import type { EventChunks, EventQuery, LogFilter, LogHead, ReadRange } from '../backend.js'
import type { Visibility } from '../rules.js'
import type { Connection } from './connection.js'
import { EVENT_COLUMNS, corruptAt, rowEvent, type EventRow } from './rows.js'

/** Events of a read's first page, then twice as many each page up to the second. */
const FIRST_PAGE = 64
const MAX_PAGE = 1024
/** An upper bound where none is given. */
const END = Number.MAX_SAFE_INTEGER

/** What a read asks of the events table. */
interface Plan {
  /** `position` or `revision`: what the read orders by and pages on */
  key: 'position' | 'revision'
  /**
   * A page's query; `{near}` is the bound where the page starts (inclusive), `{far}` where the
   * read ends; $3 is the page's size, $4 on are `params`.
   */
  page: (backwards: boolean) => string
  params: unknown[]
  /** a query of one row whose `head` is where the read ends at most (and `head_time`) */
  end: string
  /** whether every key between the bounds must be read (no filter) */
  contiguous: boolean
  /** ANNALS_CORRUPT for a key missing */
  missing: (key: number) => AnnalsError
  /** whether the keys from `from` to `to` (inclusive) are missing because a scavenge removed them */
  removed: (from: number, to: number) => Promise<boolean>
  /** what the read sees of the rules of streams' lives; none when no rule hides anything */
  visibility: Visibility | undefined
}

type PageRow = EventRow & { head?: number | null, head_time?: number | null }

/** Reads a plan a page at a time. */
class PagedRead implements EventChunks {
  readonly #conn: Connection
  readonly #plan: Plan
  readonly #backwards: boolean
  /** where the log ends as this process knows it, and what to do when a read finds it further */
  readonly #known: (() => number) | undefined
  readonly #learn: ((head: LogHead) => void) | undefined
  /** the next key to read, and the last the read may reach (undefined until the first page says) */
  #next: number
  #far: number | undefined
  #left: number
  #cap = FIRST_PAGE
  /** the size of the page asked for last */
  #asked = 0
  #started = false
  #done = false
  #pending: Promise<PageRow[]> | undefined

  constructor (conn: Connection, plan: Plan, range: ReadRange, known?: () => number, learn?: (head: LogHead) => void) {
    this.#conn = conn
    this.#plan = plan
    this.#backwards = range.backwards
    this.#known = known
    this.#learn = learn
    this.#left = range.limit
    const near = range.from
    const far = range.to
    this.#next = near ?? (range.backwards ? END : 0)
    this.#far = far ?? (range.backwards ? 0 : undefined)
  }

  async next (): Promise<RecordedEvent[]> {
    if (this.#done || this.#left <= 0) return await this.#end()
    let rows: PageRow[]
    if (!this.#started) {
      this.#started = true
      rows = await this.#firstPage(this.#asked = this.#size())
    } else {
      rows = await this.#pending!
      this.#pending = undefined
    }
    const backwards = this.#backwards
    const contiguous = this.#plan.contiguous
    // runs of keys missing, each to be explained by a scavenge
    const gaps: Array<[number, number]> = []
    let previous: number | undefined
    for (const row of rows) {
      const key = row[this.#plan.key]
      if (contiguous && key !== this.#next) {
        if (backwards ? key > this.#next : key < this.#next) throw this.#plan.missing(this.#next)
        gaps.push(backwards ? [key + 1, this.#next] : [this.#next, key - 1])
      } else if (!contiguous && previous !== undefined && (backwards ? key >= previous : key <= previous)) {
        throw this.#plan.missing(this.#next)
      }
      previous = key
      this.#next = backwards ? key - 1 : key + 1
    }
    const beyond = backwards ? this.#next < this.#far! : this.#next > this.#far!
    const last = rows.length < this.#asked || beyond
    if (rows.length < this.#asked && contiguous && !beyond) gaps.push(backwards ? [this.#far!, this.#next] : [this.#next, this.#far!])
    for (const [from, to] of gaps) if (!await this.#plan.removed(from, to)) throw this.#plan.missing(from)
    let kept: PageRow[] = rows
    const visibility = this.#plan.visibility
    if (visibility !== undefined && rows.length > 0) {
      await visibility.prepare(new Set(rows.map(r => r.stream)))
      kept = rows.filter(r => visibility.visible(r.stream, r.revision, r.position, r.time))
    }
    this.#left -= kept.length
    if (last || this.#left <= 0) {
      this.#done = true
    } else {
      this.#pending = this.#page(false, this.#asked = this.#size())
      this.#pending.catch(() => {}) // seen by the next call, if there is one
    }
    if (kept.length === 0) return this.#done ? await this.#end() : await this.next()
    return kept.map(rowEvent)
  }

  /** The size of the next page. */
  #size (): number {
    const n = Math.min(this.#cap, this.#left)
    this.#cap = Math.min(this.#cap * 2, MAX_PAGE)
    return n
  }

  /** The first page, with where the read ends when it does not know it yet. */
  async #firstPage (n: number): Promise<PageRow[]> {
    const bound = this.#backwards ? this.#next : this.#far
    const known = this.#known?.()
    if (bound !== undefined && known !== undefined && bound <= known) {
      // within what is known committed: no need to ask where the log ends
      if (this.#far === undefined) this.#far = bound
      return await this.#page(false, n)
    }
    const rows = await this.#page(true, n)
    const head = rows[0]?.head ?? -1
    if (rows[0] !== undefined && rows[0].head_time !== undefined && rows[0].head_time !== null) this.#learn?.({ position: head, time: rows[0].head_time })
    if (this.#backwards) this.#next = Math.min(this.#next, head)
    else this.#far = Math.min(this.#far ?? END, head)
    const out = rows.filter(r => r[this.#plan.key] !== null)
    if (this.#backwards ? this.#next < this.#far! : this.#next > this.#far!) this.#done = true
    return out
  }

  /** One page from the current bounds. */
  async #page (withEnd: boolean, n: number): Promise<PageRow[]> {
    const plan = this.#plan
    const near = withEnd && this.#backwards ? 'least($1::bigint, h.head)' : '$1::bigint'
    const far = withEnd && !this.#backwards ? 'least($2::bigint, h.head)' : '$2::bigint'
    const inner = plan.page(this.#backwards).replaceAll('{near}', near).replaceAll('{far}', far)
    const text = withEnd
      ? `select h.head, h.head_time, x.* from (${plan.end}) h left join lateral (${inner}) x on true order by x.${plan.key}${this.#backwards ? ' desc' : ''}`
      : inner
    return await this.#conn.query<PageRow>(text, [this.#next, this.#far ?? END, n, ...plan.params])
  }

  async #end (): Promise<RecordedEvent[]> {
    await this.close()
    return []
  }

  async close (): Promise<void> {
    this.#done = true
    const pending = this.#pending
    this.#pending = undefined
    await pending?.catch(() => {})
  }
}

/** Builds the parameters of a plan: each value given a placeholder after the page's three. */
class Params {
  readonly values: unknown[] = []

  add (value: unknown, type: string): string {
    this.values.push(value)
    return `$${this.values.length + 3}::${type}`
  }
}

/** The bounds of a page on `column`, in reading order. */
function bounds (column: string, backwards: boolean): string {
  return backwards ? `${column} <= {near} and ${column} >= {far}` : `${column} >= {near} and ${column} <= {far}`
}

function order (column: string, backwards: boolean): string {
  return `order by ${column}${backwards ? ' desc' : ''} limit $3`
}

/** LIKE's pattern of the names that start with `prefix`. */
function likePrefix (prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, c => `\\${c}`)}%`
}

/** The SQL condition of a query item, on the events table aliased `e`; undefined when it keeps every event. */
function itemCondition (item: EventQuery[number], p: Params): string | undefined {
  const parts: string[] = []
  if (item.types !== undefined && item.types.length > 0) parts.push(`e.type = any(${p.add(item.types, 'text[]')})`)
  if (item.tags !== undefined && item.tags.length > 0) parts.push(`e.tags @> ${p.add(item.tags, 'text[]')}`)
  return parts.length === 0 ? undefined : parts.join(' and ')
}

/** The readers of one backend. */
export class Readers {
  readonly #conn: Connection
  readonly #known: () => number
  readonly #learn: (head: LogHead) => void
  readonly #visibility: () => Visibility | undefined

  /**
   * `known` is where this process knows the log ends; `learn` is told when a read finds it
   * further; `visibility` is what a read beginning now sees of the rules of streams' lives.
   */
  constructor (conn: Connection, known: () => number, learn: (head: LogHead) => void, visibility: () => Visibility | undefined = () => undefined) {
    this.#conn = conn
    this.#known = known
    this.#learn = learn
    this.#visibility = visibility
  }

  /** Whether every position from `from` to `to` is in a run a scavenge removed. */
  #logRemoved = async (from: number, to: number): Promise<boolean> => {
    const rows = await this.#conn.query<{ n: number }>(
      `select coalesce(sum(least(last, $2) - greatest(first, $1) + 1), 0)::bigint as n from ${this.#conn.s}.removed where first <= $2 and last >= $1`, [from, to])
    return Number(rows[0]?.n ?? 0) === to - from + 1
  }

  get #logEnd (): string {
    return `select position as head, time as head_time from ${this.#conn.s}.head`
  }

  #logMissing = (position: number): AnnalsError => corruptAt(position, 'it is missing')

  /** The log in position order (or backwards), optionally of some types only. */
  log (range: ReadRange, types?: ReadonlySet<string>): EventChunks {
    const p = new Params()
    const typed = types === undefined ? '' : ` and type = any(${p.add([...types], 'text[]')})`
    const s = this.#conn.s
    return new PagedRead(this.#conn, {
      key: 'position',
      page: backwards => `select ${EVENT_COLUMNS} from ${s}.events where ${bounds('position', backwards)}${typed} ${order('position', backwards)}`,
      params: p.values,
      end: this.#logEnd,
      contiguous: types === undefined,
      missing: this.#logMissing,
      removed: this.#logRemoved,
      visibility: this.#visibility()
    }, range, this.#known, this.#learn)
  }

  /**
   * The events a filter keeps: a query whose every item has tags through the tag index (each
   * item's first `limit` matches, merged), else a scan of the log that keeps what matches.
   */
  filtered (range: ReadRange, filter: LogFilter): EventChunks {
    const { query, prefix } = filter
    const s = this.#conn.s
    const p = new Params()
    const category = prefix === undefined ? undefined : `e.stream like ${p.add(likePrefix(prefix), 'text')}`
    let page: (backwards: boolean) => string
    if (query !== undefined && query.length > 0 && query.every(item => item.tags !== undefined && item.tags.length > 0)) {
      const items = query.map(item => {
        const tag = p.add(item.tags![0], 'text')
        const conditions = [itemCondition(item, p)!, ...(category === undefined ? [] : [category])].join(' and ')
        return (backwards: boolean): string => `(select g.position from ${s}.event_tags g join ${s}.events e on e.position = g.position ` +
          `where g.tag = ${tag} and ${bounds('g.position', backwards)} and ${conditions} ${order('g.position', backwards)})`
      })
      page = backwards => `select ${EVENT_COLUMNS} from ${s}.events where position in (${items.map(item => item(backwards)).join(' union all ')}) ${order('position', backwards)}`
    } else {
      const conditions: string[] = []
      // an item that keeps every event makes the query keep every event
      const keepsAll = (item: EventQuery[number]): boolean => (item.types === undefined || item.types.length === 0) && (item.tags === undefined || item.tags.length === 0)
      if (query !== undefined && query.length > 0 && !query.some(keepsAll)) {
        conditions.push(`(${query.map(item => `(${itemCondition(item, p)!})`).join(' or ')})`)
      }
      if (category !== undefined) conditions.push(category)
      const where = conditions.map(c => ` and ${c}`).join('')
      page = backwards => `select ${EVENT_COLUMNS} from ${s}.events e where ${bounds('position', backwards)}${where} ${order('position', backwards)}`
    }
    return new PagedRead(this.#conn, { key: 'position', page, params: p.values, end: this.#logEnd, contiguous: false, missing: this.#logMissing, removed: this.#logRemoved, visibility: this.#visibility() }, range, this.#known, this.#learn)
  }

  /** One stream in revision order (or backwards), every revision checked to be there. */
  stream (stream: string, range: ReadRange): EventChunks {
    const s = this.#conn.s
    return new PagedRead(this.#conn, {
      key: 'revision',
      page: backwards => `select ${EVENT_COLUMNS} from ${s}.events where stream = $4::text and ${bounds('revision', backwards)} ${order('revision', backwards)}`,
      params: [stream],
      end: `select revision as head, null::bigint as head_time from ${s}.streams where stream = $4::text`,
      contiguous: true,
      missing: revision => new AnnalsError('ANNALS_CORRUPT', `The log is damaged: revision ${revision} of stream '${stream}' is missing`),
      // a scavenge removes the first revisions of a stream, up to its kept_from
      removed: async (_, to) => to < ((await this.#conn.query<{ k: number }>(`select kept_from as k from ${s}.streams where stream = $1`, [stream]))[0]?.k ?? 0),
      visibility: this.#visibility()
    }, range)
  }
}
